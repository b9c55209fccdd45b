"""SomaSamples on plain NEURON: values per time, sample and hold, release, stop (in a subprocess:
NEURON is process-wide state)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import math
import numpy as np
from neuron import h
from multiscale_run.simulators.neuron.soma_samples import SomaSamples

h.load_file("stdrun.hoc")
h.dt = 0.1
cells = [h.Section(name=f"soma{i}") for i in range(3)]
clamps = []
for i, sec in enumerate(cells):
    sec.L = sec.diam = 10.0
    sec.insert("pas")
    clamp = h.IClamp(sec(0.5))
    clamp.delay, clamp.dur, clamp.amp = 0.0, 1e9, 0.01 * (i + 1)
    clamps.append(clamp)
refs = [sec(0.5)._ref_v for sec in cells]
area = np.array([sec(0.5).area() for sec in cells])
plain = SomaSamples(h, refs, h.dt)
doubled = SomaSamples(h, refs, h.dt, convert=lambda v: 2.0 * v * area)
late = SomaSamples(h, refs, h.dt)
h.finitialize(-65.0)
truth = [[sec(0.5).v for sec in cells]]

def step_to(t):
    while h.t < t - 1e-9:
        h.fadvance()
        truth.append([sec(0.5).v for sec in cells])

step_to(1.0)
# frames at 0, 0.25, 0.5, 0.75 read steps 0, 2, 5, 7 (the latest step at or before each)
got = plain.take(np.array([0.0, 0.25, 0.5, 0.75]), next_ms=1.0)
assert np.array_equal(got, np.array(truth)[[0, 2, 5, 7]]), got
assert np.allclose(doubled.take(np.array([0.5]), next_ms=0.5)[0], 2.0 * np.array(truth[5]) * area, rtol=1e-15)
# a report starting later: collections without frames release everything before its start
assert late.take(np.zeros(0), next_ms=3.0).shape == (0, 3)
step_to(2.0)
assert late.take(np.zeros(0), next_ms=3.0).shape == (0, 3) and len(late._kept) == 0
step_to(3.5)
assert np.array_equal(late.take(np.array([3.0, 3.2]), next_ms=3.4), np.array(truth)[[30, 32]])
assert late._first == 34 and len(late._kept) == 2  # steps 34 and 35 wait for later frames
# released samples cannot be read again
try:
    plain.take(np.array([0.5]), next_ms=1.0)
except RuntimeError as err:
    assert "held" in str(err)
else:
    raise AssertionError("a released sample was read")
assert np.array_equal(plain.take(np.array([1.0, 3.5]), next_ms=math.inf), np.array(truth)[[10, 35]])
# a complete report stops its record: NEURON no longer appends
step_to(5.0)
assert all(vec.size() == 0 for vec in plain._vectors) and len(plain._kept) == 0
assert all(vec.size() == 15 for vec in late._vectors)  # steps 36..50 recorded meanwhile
# a rank without somata
assert SomaSamples(h, [], h.dt).take(np.array([1.0, 2.0]), next_ms=3.0).shape == (2, 0)
print("ok")
"""


def test_soma_samples_against_plain_neuron_values():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
