"""The random streams of BBP's simulator, neurodamus (4.2), so that one SONATA config gives the
same stochastic inputs and synaptic releases in msr and in neurodamus.

Every stream is one of NEURON's Random123 streams, named by three 32-bit ids, under the global
index ``run.random_seed`` (neurodamus sets it once, from ``run.random_seed``, for every stream).
neurodamus numbers a population's cells from gid 0 and adds 1 "to match legacy 1-based
neurodamus" wherever a gid seeds a stream; msr seeds with its own gid + 1 there. Its gid is
``first_gid[population] + node id`` (:class:`~multiscale_run.nodes.NeuronSelection`): the node id
in the first population (offset 0, neurodamus's gid too); the other populations' offsets are
msr's, not neurodamus's. The ids (neurodamus ``stimulus_manager.py``,
``connection.py``, ``AMPANMDAHelper.hoc``/``GABAABHelper.hoc``):

- ``noise``: (k + 100, ``stimulus_seed`` + 500, gid + 1 + 300), k = the input's rank among the
  config's ``noise`` inputs (config order);
- ``shot_noise``, ``absolute_shot_noise``, ``relative_shot_noise``: (k + 2997,
  ``stimulus_seed`` + 19216, gid + 1 + 123), k = the rank among these three modules' inputs;
  an input's own ``random_seed`` replaces gid + 1 + 123 (the same stream on every cell);
- ``ornstein_uhlenbeck``, ``relative_ornstein_uhlenbeck``: (k + 2997, ``stimulus_seed`` +
  291204, gid + 1 + 123), likewise;
- BBP synapses (``setRNG`` of ProbAMPANMDA_EMS / ProbGABAAB_EMS): (gid + 1 + 250, i + 100,
  P(source)·65536 + P(target) + ``synapse_seed`` + 300), i = the synapse's index among the
  target's afferent edges of that edge population (edge id order), P(population) = the 12-bit
  id neurodamus derives from the population's name (MD5 digest d: (d[1] & 0x0F)·256 + d[0]);
- spontaneous minis: intervals from (i + 200, gid + 1 + 250, P(source)·65536 + P(target) +
  ``minis_seed`` + 300) (:func:`minis_times`);
- ``conditions.randomize_gaba_rise_time``: each ProbGABAAB_EMS synapse's ``tau_r_GABAA`` from
  (gid + 1 + 250, i + 100, P(source)·65536 + P(target) + ``synapse_seed`` + 450)
  (:func:`gaba_rise_time`).
"""

from __future__ import annotations

import hashlib

import numpy as np

#: Random123 (first id offset, second id offset) of each stimulus family, and its modules
STIMULUS_FAMILIES = {
    "noise": ((100, 500), ("noise",)),
    "shot_noise": ((2997, 19216), ("shot_noise", "absolute_shot_noise", "relative_shot_noise")),
    "ornstein_uhlenbeck": ((2997, 291204), ("ornstein_uhlenbeck", "relative_ornstein_uhlenbeck")),
}


def set_global_index(h, random_seed: int) -> None:
    """NEURON's Random123 global index (shared by every stream) = ``run.random_seed``."""
    h.Random().Random123_globalindex(int(random_seed))


def random123(h, ids: tuple[int, int, int]):
    """A NEURON ``Random`` on the Random123 stream ``ids`` (under the global index)."""
    rng = h.Random()
    rng.Random123(*(int(i) for i in ids))
    return rng


def family(module: str) -> str | None:
    """The stimulus family (:data:`STIMULUS_FAMILIES`) of a current-clamp module, None if it
    draws nothing."""
    return next((name for name, (_, modules) in STIMULUS_FAMILIES.items() if module in modules), None)


def stimulus_ids(
    module: str, count: int, stimulus_seed: int, gid: int, seed: int | None = None, legacy_base: int = 1
) -> tuple:
    """The Random123 ids of the ``count``-th input (0-based, config order) of ``module``'s family
    on node ``gid``; ``seed``: the input's own ``random_seed`` (not for ``noise``);
    ``legacy_base``: what ``noise`` adds to the gid (neurodamus 1, bluecellulab 0)."""
    name = family(module)
    (first, second), _ = STIMULUS_FAMILIES[name]
    if name == "noise":
        return count + first, stimulus_seed + second, gid + legacy_base + 300
    return count + first, stimulus_seed + second, gid + 1 + 123 if seed is None else seed


def afferent_index(targets: np.ndarray) -> np.ndarray:
    """Each edge's index among its target's afferent edges (``targets`` in edge id order):
    neurodamus's synapse id, which keys the synapse's streams."""
    order = np.argsort(targets, kind="stable")
    sorted_t = targets[order]
    starts = np.flatnonzero(np.r_[True, sorted_t[1:] != sorted_t[:-1]])
    rank = np.arange(len(targets)) - np.repeat(starts, np.diff(np.r_[starts, len(targets)]))
    out = np.empty(len(targets), dtype=np.int64)
    out[order] = rank
    return out


def population_id(name: str) -> int:
    """neurodamus's 12-bit id of a node population (from the MD5 digest of its name)."""
    digest = hashlib.md5(name.encode()).digest()
    return ((digest[1] & 0x0F) << 8) + digest[0]


def synapse_ids(gid: int, index: int, source: str, target: str, synapse_seed: int) -> tuple:
    """The release stream of the ``index``-th synapse onto ``gid`` of an edge population from
    node population ``source`` onto ``target``."""
    pops = population_id(source) * 65536 + population_id(target)
    return gid + 1 + 250, index + 100, pops + synapse_seed + 300


def gaba_rise_time(h, gid: int, index: int, source: str, target: str, synapse_seed: int) -> float:
    """The GABA_A rise time (ms) of that synapse under ``randomize_gaba_rise_time``: the second
    pick of lognormal(mean 0.2, variance 0.1) on its stream (neurodamus's GABAABHelper)."""
    pops = population_id(source) * 65536 + population_id(target)
    rng = random123(h, (gid + 1 + 250, index + 100, pops + synapse_seed + 450))
    rng.lognormal(0.2, 0.1)
    return rng.repick()


def minis_ids(gid: int, index: int, source: str, target: str, minis_seed: int) -> tuple:
    """The interval stream of the spontaneous minis of that synapse."""
    pops = population_id(source) * 65536 + population_id(target)
    return index + 200, gid + 1 + 250, pops + minis_seed + 300


def minis_times(h, ids: tuple, rate_hz: float, tstop: float) -> np.ndarray:
    """The release times (ms, < ``tstop``) of spontaneous minis at ``rate_hz``: neurodamus's
    InhPoissonStim at a constant rate, a Poisson process whose intervals are 1000/rate ·
    negexp(1) draws of stream ``ids``, the first draw discarded, the first release one interval
    after t = 0 (each later one an interval after the last, as NEURON's event queue adds them)."""
    rng = random123(h, ids)
    rng.negexp(1.0)  # = the discarded first draw
    mean = 1000.0 / rate_hz
    chunk = max(16, int(1.2 * tstop / mean) + 16)
    times, last = [], 0.0
    while last < tstop:
        draws = h.Vector(chunk)
        draws.setrand(rng)
        intervals = mean * draws.as_numpy()
        t = np.cumsum(np.concatenate([[last], intervals]))[1:]
        times.append(t)
        last = float(t[-1])
    out = np.concatenate(times)
    return out[out < tstop]
