"""Make ``neurodamus_streams.npz``: stochastic inputs as neurodamus itself makes them, the
reference of ``tests/unit/test_neurodamus_streams.py``. Not run by the tests: it needs neurodamus
(4.2.9, PyPI) and NEURON in a separate environment, and neurodamus's mechanisms compiled:

    python3 -m venv /tmp/nd-venv && /tmp/nd-venv/bin/pip install neurodamus==4.2.9 neuron==9.0.2
    cp /tmp/nd-venv/lib/python3.11/site-packages/neurodamus/data/mod/*.mod mod/
    PATH=/tmp/nd-venv/bin:$PATH nrnivmodl -incflags -DDISABLE_REPORTINGLIB mod
    NRNMECH_LIB_PATH=$PWD/x86_64/libnrnmech.so \
    HOC_LIBRARY_PATH=/tmp/nd-venv/lib/python3.11/site-packages/neurodamus/data/hoc \
    /tmp/nd-venv/bin/python make_neurodamus_streams.py neurodamus_streams.npz

Each case: NEURON's Random123 global index, the stream's ids, the parameters, and what
neurodamus's SignalSource (shot noise, Ornstein-Uhlenbeck, noise) or InhPoissonStim (spontaneous
minis) produces from them; and the rise times neurodamus's GABAABHelper draws under
``randomize_gaba_rise_time`` (synapses as (node id, index among its afferent edges), the
populations as (neurodamus's id, name)).
"""

import json
import sys
from types import SimpleNamespace

import numpy as np
from neurodamus.core import NeuronWrapper as Nd
from neurodamus.core import random
from neurodamus.core.stimuli import CurrentSource
from neurodamus.stimulus_manager import Noise, ShotNoise

GLOBAL_INDEX = 767740
CASES = {
    "shot": {
        "kind": "shot",
        "ids": [2997, 19216 + 3, 131],
        "delay": 5.0,
        "rise": 0.4,
        "decay": 4.0,
        "rate": 300.0,
        "amp_mean": 0.02,
        "amp_var": 1e-4,
        "duration": 200.0,
        "dt": 0.25,
    },
    "shot_small_shape": {
        "kind": "shot",
        "ids": [2999, 19216, 52],
        "delay": 2.0,
        "rise": 0.4,
        "decay": 4.0,
        "rate": 500.0,
        "amp_mean": -0.01,
        "amp_var": 1e-3,
        "duration": 1000.0,
        "dt": 0.25,
    },
    "shot_moments": {
        "kind": "shot",
        "ids": [2998, 19219, 7],
        "delay": 0.0,
        "rise": 0.5,
        "decay": 5.0,
        "mean": 0.1,
        "sd": 0.03,
        "skew": 0.3,
        "duration": 150.3,
        "dt": 0.1,
    },
    "ou": {
        "kind": "ou",
        "ids": [2997, 291204, 131],
        "delay": 3.0,
        "tau": 5.0,
        "sigma": 0.04,
        "mean": 0.1,
        "duration": 100.0,
        "dt": 0.25,
    },
    "noise_delayed": {
        "kind": "noise",
        "ids": [101, 502, 305],
        "delay": 40.0,
        "mean": 0.2,
        "variance": 0.01,
        "duration": 30.0,
        "dt": 0.5,
        "sim_dt": 0.025,
    },
    "minis": {
        "kind": "minis",
        "ids": [203, 255, 4034 * 65536 + 4034 + 6 + 300],
        "rate": 40.0,
        "tstop": 2000.0,
    },
    "gaba_rise": {
        "kind": "gaba",
        "synapses": [[3, 0], [3, 7], [1, 2]],
        "source": [2781, "external_default"],
        "target": [4034, "default"],
        "synapse_seed": 4,
    },
}


def _signal(c: dict) -> tuple:
    rng = random.Random123(*c["ids"])
    if c["kind"] == "noise":  # neurodamus's Noise: the numbers of the times before the delay first
        holder = SimpleNamespace(delay=c["delay"], duration=c["duration"], dt=c["dt"])
        Noise.draw_already_used_numbers(holder, rng, c["sim_dt"])
    source = CurrentSource(delay=c["delay"], rng=rng)
    if c["kind"] == "shot":
        if "mean" in c:
            shot = ShotNoise.__new__(ShotNoise)
            shot.tau_D, shot.tau_R, shot.rel_skew = c["decay"], c["rise"], c["skew"]
            shot.params_from_mean_sd(c["mean"], c["sd"])
            c.update(rate=shot.rate, amp_mean=shot.amp_mean, amp_var=shot.amp_var)
        source.add_shot_noise(
            c["decay"], c["rise"], c["rate"], c["amp_mean"], c["amp_var"], c["duration"], c["dt"]
        )
    elif c["kind"] == "ou":
        source.add_ornstein_uhlenbeck(c["tau"], c["sigma"], c["mean"], c["duration"], c["dt"])
    else:
        source.add_noise(c["mean"], c["variance"], c["duration"], c["dt"])
    return np.array(source.time_vec.to_python()), np.array(source.stim_vec.to_python())


def _minis(c: dict) -> np.ndarray:
    """InhPoissonStim at a constant rate, as neurodamus's SpontMinis sets it up."""
    h = Nd.h
    stim = h.InhPoissonStim(0.5, sec=h.Section())
    tbins, rate = h.Vector([0.0]), h.Vector([c["rate"]])
    stim.setTbins(tbins)
    stim.setRate(rate)
    stim.duration = c["tstop"]
    ids = c["ids"]
    stim.setRNGs(*ids, ids[0], ids[1], ids[2] + 50)
    times = h.Vector()
    netcon = h.NetCon(stim, None)
    netcon.record(times)
    h.finitialize(-65)
    h.load_file("stdrun.hoc")
    h.tstop = c["tstop"]
    h.run()
    return np.array(times.to_python())


def _gaba_rise(c: dict) -> np.ndarray:
    h = Nd.h
    Nd.load_hoc("GABAABHelper")
    h.randomize_Gaba_risetime = "True"
    h.synapseSeed = c["synapse_seed"]
    section = h.Section()
    params = SimpleNamespace(DTC=8.0, U=0.25, D=700.0, F=10.0, nrrp=3, maskValue=-1)
    out = []
    for gid, index in c["synapses"]:
        section.push()
        helper = h.GABAABHelper(gid + 1, params, 0.5, index, 0, c["source"][0], c["target"][0])
        h.pop_section()
        out.append(helper.synapse.tau_r_GABAA)
    return np.array(out)


def main(out: str) -> None:
    Nd.h.Random().Random123_globalindex(GLOBAL_INDEX)
    arrays = {"global_index": np.array(GLOBAL_INDEX)}
    for name, case in CASES.items():
        if case["kind"] == "minis":
            arrays[f"{name}/times"] = _minis(case)
        elif case["kind"] == "gaba":
            arrays[f"{name}/tau_r"] = _gaba_rise(case)
        else:
            arrays[f"{name}/t"], arrays[f"{name}/v"] = _signal(case)
    arrays["cases"] = np.array(json.dumps(CASES))
    np.savez_compressed(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
