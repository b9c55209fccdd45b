"""The stochastic inputs drawn as neurodamus draws them: msr's waveforms and release times
against the ones neurodamus 4.2.9 itself made from the same Random123 streams
(``data/neurodamus_streams.npz``, made by ``data/make_neurodamus_streams.py``), sample for sample
and bit for bit; and the stream ids against the ones neurodamus documents."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from multiscale_run.simulators.neuron import random_streams
from multiscale_run.simulators.neuron.clamps import clamp_waveform
from multiscale_run.simulators.neuron.inputs import InputStimuli

REF = np.load(Path(__file__).parent / "data" / "neurodamus_streams.npz")
CASES = json.loads(str(REF["cases"]))


@pytest.fixture(scope="module")
def h():
    from neuron import h

    random_streams.set_global_index(h, int(REF["global_index"]))
    return h


def _spec(case: dict) -> dict:
    window = {"delay": case["delay"], "duration": case["duration"], "dt": case["dt"]}
    if case["kind"] == "ou":
        ou = {k: case[k] for k in ("tau", "sigma", "mean")}
        return {"module": "ornstein_uhlenbeck", **ou, **window}
    shot = {"rise_time": case["rise"], "decay_time": case["decay"], **window}
    if "mean" in case:
        return {"module": "absolute_shot_noise", "mean": case["mean"], "sigma": case["sd"],
                "relative_skew": case["skew"], **shot}  # fmt: skip
    return {"module": "shot_noise", "rate": case["rate"], "amp_mean": case["amp_mean"],
            "amp_var": case["amp_var"], **shot}  # fmt: skip


def _same_source(times: list, amps: list, name: str) -> None:
    """msr's points against neurodamus's (which has no leading (0, 0) without a delay)."""
    want_t, want_v = REF[f"{name}/t"], REF[f"{name}/v"]
    if want_t[0] != 0.0 or len(times) == len(want_t) + 1:
        times, amps = times[1:], amps[1:]
    assert np.array_equal(times, want_t)
    assert np.array_equal(amps, want_v)


@pytest.mark.parametrize("name", ["shot", "shot_small_shape", "shot_moments", "ou"])
def test_shot_noise_and_ornstein_uhlenbeck_are_neurodamus_s(h, name):
    case = CASES[name]
    settings = SimpleNamespace(tstop_ms=case["delay"] + case["duration"] + 10.0)
    rng = random_streams.random123(h, case["ids"])
    times, amps = clamp_waveform(_spec(case), {}, settings, rng)
    _same_source(times, amps, name)


@pytest.mark.parametrize("name", ["shot", "shot_moments", "ou"])  # a positive mean: a conductance
def test_conductance_mode_draws_neurodamus_s_signal(h, name):
    """neurodamus's conductance mode is the same class and stream: the same samples, in µS."""
    case = CASES[name]
    settings = SimpleNamespace(tstop_ms=case["delay"] + case["duration"] + 10.0)
    rng = random_streams.random123(h, case["ids"])
    times, g = clamp_waveform({**_spec(case), "input_type": "conductance"}, {}, settings, rng)
    _same_source(times, g, name)


def test_an_input_s_rank_counts_both_modes_of_its_family_in_config_order():
    """neurodamus counts a family's inputs (its class's stimCount) whatever their mode."""
    inputs = {
        "ou": {"input_type": "conductance", "module": "ornstein_uhlenbeck"},
        "shot_g": {"input_type": "conductance", "module": "shot_noise"},
        "noise": {"input_type": "current_clamp", "module": "noise"},
        "shot_i": {"input_type": "current_clamp", "module": "relative_shot_noise"},
        "ou_i": {"input_type": "current_clamp", "module": "relative_ornstein_uhlenbeck"},
        "step": {"input_type": "current_clamp", "module": "linear"},
    }
    adapter = SimpleNamespace(settings=SimpleNamespace(inputs=inputs))
    rank = {
        name: InputStimuli._stimulus_count(adapter, name, spec["module"]) for name, spec in inputs.items()
    }
    assert rank == {"ou": 0, "shot_g": 0, "noise": 0, "shot_i": 1, "ou_i": 1, "step": 0}


def test_a_run_shorter_than_the_input_draws_as_much_and_keeps_its_start(h):
    case = CASES["shot_small_shape"]
    rng = random_streams.random123(h, case["ids"])
    times, amps = clamp_waveform(_spec(case), {}, SimpleNamespace(tstop_ms=100.0), rng)
    n = len(times)
    assert times[-1] > 100.0 and n < len(REF["shot_small_shape/t"])
    assert np.array_equal(times, REF["shot_small_shape/t"][:n])
    assert np.array_equal(amps, REF["shot_small_shape/v"][:n])


def test_delayed_noise_is_neurodamus_s(h):
    case = CASES["noise_delayed"]
    count, seed, gid = case["ids"][0] - 100, case["ids"][1] - 500, case["ids"][2] - 301
    assert random_streams.stimulus_ids("noise", count, seed, gid) == tuple(case["ids"])
    adapter = SimpleNamespace(
        h=h, settings=SimpleNamespace(stimulus_seed=seed, dt_ms=case["sim_dt"], noise_convention="neurodamus")
    )
    spec = {"module": "noise", "mean": case["mean"], "variance": case["variance"], "delay": case["delay"],
            "duration": case["duration"], "dt": case["dt"]}  # fmt: skip
    settings = SimpleNamespace(tstop_ms=1000.0)
    times, amps = clamp_waveform(
        spec, {}, settings, lambda *args: InputStimuli._noise_draws(adapter, gid, count, *args)
    )
    _same_source(times, amps, "noise_delayed")


def test_spontaneous_minis_are_neurodamus_s(h):
    case = CASES["minis"]
    got = random_streams.minis_times(h, case["ids"], case["rate"], case["tstop"])
    assert np.array_equal(got, REF["minis/times"])


def test_stream_ids_are_the_ones_neurodamus_uses():
    # neurodamus's population ids of the BBP test circuit (its log: "Pop:(2781, 4034)")
    assert random_streams.population_id("default") == 4034
    assert random_streams.population_id("external_default") == 2781
    assert random_streams.synapse_ids(3, 7, "external_default", "default", 4) == (
        254, 107, 2781 * 65536 + 4034 + 4 + 300,
    )  # fmt: skip
    pops = 4034 * 65536 + 4034
    assert random_streams.minis_ids(3, 7, "default", "default", 6) == (207, 254, pops + 6 + 300)
    assert random_streams.stimulus_ids("relative_shot_noise", 2, 5, 9) == (2999, 19221, 133)
    assert random_streams.stimulus_ids("ornstein_uhlenbeck", 0, 5, 9, seed=77) == (2997, 291209, 77)


def test_randomized_gaba_rise_times_are_neurodamus_s(h):
    case = CASES["gaba_rise"]
    (_, source), (_, target) = case["source"], case["target"]
    got = [
        random_streams.gaba_rise_time(h, gid, index, source, target, case["synapse_seed"])
        for gid, index in case["synapses"]
    ]
    assert np.array_equal(got, REF["gaba_rise/tau_r"])
