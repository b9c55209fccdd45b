"""The hoc procedures that build cells and pointers against the same work done by NEURON's
Python API call by call (in a subprocess: NEURON is process-wide state)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import numpy as np
from neuron import h
from multiscale_run.simulators.neuron.hoc_batch import add_points, apply_group
from multiscale_run.simulators.neuron.pointers import _hoc_filler

rng = np.random.default_rng(7)
sizes = [2, 5, 0, 17, 3]
points = [rng.normal(scale=30.0, size=(n, 3)).cumsum(axis=0) for n in sizes]
diams = [rng.uniform(0.3, 4.0, size=n) for n in sizes]
group = {"Ra": 123.4, "cm": 0.987654321, "mechanisms": {"hh": {"gnabar": 0.1234567891234, "el": -54.3},
                                                          "pas": {"g": 3.3e-05, "e": -70.1}}}


def build(batched):
    secs = [h.Section(name=f"{'b' if batched else 'p'}{k}") for k in range(len(sizes))]
    for k in range(1, len(secs)):
        secs[k].connect(secs[k - 1](1), 0)
    if batched:
        add_points(h, secs, points, diams)
        apply_group(h, secs[1:4], group)
    else:
        for sec, p, d in zip(secs, points, diams):
            if len(p):
                h.pt3dadd(h.Vector(p[:, 0]), h.Vector(p[:, 1]), h.Vector(p[:, 2]), h.Vector(d), sec=sec)
        for sec in secs[1:4]:
            sec.Ra, sec.cm = group["Ra"], group["cm"]
            for mech, params in group["mechanisms"].items():
                sec.insert(mech)
                for name, value in params.items():
                    setattr(sec, f"{name}_{mech}", value)
    for k, sec in enumerate(secs):
        sec.nseg = 1 + 2 * k
    return secs


def state(secs):
    out = []
    for sec in secs:
        shape = [f(i) for i in range(sec.n3d()) for f in (sec.x3d, sec.y3d, sec.z3d, sec.diam3d)]
        out.append([sec.n3d(), sec.Ra, sec.L] + shape)
        for seg in sec:
            mechs = [seg.gnabar_hh, seg.el_hh, seg.g_pas, seg.e_pas] if hasattr(seg, "hh") else []
            out.append([seg.area(), seg.cm] + mechs)
    return out


plain, batched = build(False), build(True)
assert state(plain) == state(batched), "batched sections differ"
assert sum(len(s) for s in state(batched)) > 100

# a PtrVector over the segment order: each segment's own value, the placeholder where the ion is missing
order = h.SectionList()
for sec in batched:
    order.append(sec=sec)
n = sum(sec.nseg for sec in batched)
for attr in ("v", "ina"):
    for k, sec in enumerate(batched):
        for j, seg in enumerate(sec):
            setattr(seg, attr, 1000.0 * k + j) if hasattr(seg, f"_ref_{attr}") else None
    ptr, dummy, got = h.PtrVector(n), h.Vector([-1.0, -2.0]), h.Vector(n)
    _hoc_filler(h, attr)(ptr, order, dummy, 1)
    ptr.gather(got)
    segments = [seg for sec in batched for seg in sec]
    expected = [getattr(seg, attr) if hasattr(seg, f"_ref_{attr}") else -2.0 for seg in segments]
    assert got.to_python() == expected, (attr, got.to_python(), expected)
    assert (attr == "v") == (-2.0 not in expected)
print("ok")
"""


def test_batched_hoc_building_equals_python_calls():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr
