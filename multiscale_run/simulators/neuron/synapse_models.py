"""What one SONATA edge makes in NEURON: its synapse model, weight and positions.

- **Models**, keyed by the edge's ``model_template`` (:data:`SYNAPSE_MODELS`, one entry per kind):
  ``exp2syn`` = NEURON's Exp2Syn with ``tau1``, ``tau2`` (ms) and ``erev`` (mV) from the edge
  type's ``dynamics_params`` JSON in ``components.synaptic_models_dir`` (bmtk's synaptic model
  files). An edge without a template onto a NEURON artificial cell (bmtk's ``instantaneous``
  models) drives the cell directly with weight ``syn_weight · sign · nsyns`` (bmtk's rule for
  point targets).
- **Weights**: ``syn_weight`` (µS for Exp2Syn), through the edge type's ``weight_function``
  (:data:`WEIGHT_FUNCTIONS`: ``wmax`` = syn_weight; ``gaussianLL`` =
  syn_weight·exp(−(Δθ/weight_sigma)²), Δθ the wrapped difference of the ``tuning_angle`` of source
  and target, as bmtk documents it).
- **Positions** where an edge gives none (bmtk): ``nsyns`` synapses at segments drawn, with
  probability proportional to the segment length, among the segments of the ``target_sections``
  whose centre's path distance from the soma centre lies in ``distance_range`` (µm). The draw is
  seeded by (``run.random_seed``, target node id), so it does not depend on the rank count; it is
  not BioNet's stream (BioNet seeds NumPy by the cell's gid over its own segment list), so
  results agree with BioNet in rates, not spike by spike.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from multiscale_run.circuit.sonata import parse_list
from multiscale_run.errors import UserError

#: bmtk's and Import3d's names of section lists -> SONATA's
SECTION_LISTS = {
    "soma": "somatic",
    "somatic": "somatic",
    "basal": "basal",
    "dend": "basal",
    "apical": "apical",
    "apic": "apical",
    "axon": "axonal",
    "axonal": "axonal",
}


def read_model_file(folder: Path | None, name: str, file: str) -> dict:
    if folder is None:
        raise UserError(f"dynamics_params {name!r} needs components.synaptic_models_dir", file)
    path = folder / name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read synaptic model: {exc}", str(path)) from None


def _exp2syn(h, seg, params: dict, file: str):
    missing = [k for k in ("tau1", "tau2", "erev") if k not in params]
    if missing:
        raise UserError(f"exp2syn needs {missing} in its dynamics_params", file)
    syn = h.Exp2Syn(seg)
    syn.tau1, syn.tau2, syn.e = float(params["tau1"]), float(params["tau2"]), float(params["erev"])
    return syn


#: ``model_template`` -> ``make(h, segment, dynamics params, file)``
SYNAPSE_MODELS = {"exp2syn": _exp2syn, "Exp2Syn": _exp2syn}

#: BBP edge attribute -> parameter of ProbAMPANMDA_EMS (syn_type_id >= 100) / ProbGABAAB_EMS
#: (< 100), as the mod files name them (neurodamus-models, neocortex/mod)
BBP_PARAMETERS = {
    "ProbAMPANMDA_EMS": {
        "u_syn": "Use",
        "depression_time": "Dep",
        "facilitation_time": "Fac",
        "decay_time": "tau_d_AMPA",
        "n_rrp_vesicles": "Nrrp",
        "conductance_scale_factor": "NMDA_ratio",
    },
    "ProbGABAAB_EMS": {
        "u_syn": "Use",
        "depression_time": "Dep",
        "facilitation_time": "Fac",
        "decay_time": "tau_d_GABAA",
        "n_rrp_vesicles": "Nrrp",
        "conductance_scale_factor": "GABAB_ratio",
    },
}


def bbp_model(syn_type_id: int) -> str:
    """BBP's synapse class: syn_type_id >= 100 excitatory (AMPA/NMDA), else inhibitory (GABA)."""
    return "ProbAMPANMDA_EMS" if int(syn_type_id) >= 100 else "ProbGABAAB_EMS"


def bbp_synapse(h, seg, attrs: dict, k: int, stream: tuple[int, int, int], file: str):
    """A BBP probabilistic synapse with the edge's parameters; the NetCon weight is the edge's
    ``conductance`` in nS (the mod's ``gmax`` = 0.001 µS converts it). Its release stream is
    the Random123 stream ``stream`` (neurodamus's, :func:`.random_streams.synapse_ids`)."""
    name = bbp_model(attrs["syn_type_id"][k])
    if not hasattr(h, name):
        raise UserError(f"edges need the {name} mechanism, which no loaded .mod file defines", file)
    syn = getattr(h, name)(seg)
    for attr, param in BBP_PARAMETERS[name].items():
        if attr in attrs and finite(attrs[attr][k]):
            setattr(syn, param, float(attrs[attr][k]))
    syn.setRNG(*stream)
    return syn


def _tuning_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b| in degrees, wrapped onto [0, 180]."""
    return np.abs(np.abs(np.abs(180.0 - np.abs(a - b)) % 360.0) - 180.0)


def _gaussian_ll(w0, edges, source_attr, target_attr):
    sigma = np.asarray(edges["weight_sigma"], dtype=float)
    delta = _tuning_difference(
        np.asarray(source_attr("tuning_angle"), dtype=float),
        np.asarray(target_attr("tuning_angle"), dtype=float),
    )
    return w0 * np.exp(-((delta / sigma) ** 2))


#: ``weight_function`` -> ``f(syn_weight, edge attrs, source attribute, target attribute)``
WEIGHT_FUNCTIONS = {"wmax": lambda w0, *_: w0, "gaussianLL": _gaussian_ll}


def edge_weights(edges: dict, source_attr, target_attr, file: str) -> np.ndarray:
    """Each edge's weight (``syn_weight`` through its ``weight_function``)."""
    if "syn_weight" not in edges:
        raise UserError("edges without syn_weight", file)
    w0 = np.asarray(edges["syn_weight"], dtype=float)
    names = edges.get("weight_function", np.full(len(w0), None, dtype=object))
    out = w0.copy()
    for name in {n for n in names if n is not None}:
        if name not in WEIGHT_FUNCTIONS:
            raise UserError(
                f"weight_function {name!r} unsupported (supported: {sorted(WEIGHT_FUNCTIONS)})", file
            )
        m = np.array([n == name for n in names])
        sub = {k: np.asarray(v)[m] for k, v in edges.items()}
        out[m] = WEIGHT_FUNCTIONS[name](
            w0[m], sub, lambda a, m=m: source_attr(a, m), lambda a, m=m: target_attr(a, m)
        )
    return out


class Placement:
    """bmtk's placement of synapses without explicit positions on one cell."""

    def __init__(self, h, cell):
        self.h, self.cell = h, cell
        self._segments: list[tuple[object, float, str, float, float]] | None = None
        self._candidates: dict = {}

    def _all_segments(self):
        if self._segments is None:
            h, soma = self.h, self.cell.soma
            self._segments = [
                (sec, seg.x, kind, h.distance(soma(0.5), seg), sec.L / sec.nseg)
                for sec, kind in zip(self.cell.sections, self.cell.kinds, strict=True)
                for seg in sec
            ]
        return self._segments

    def candidates(self, sections: tuple[str, ...], lo: float, hi: float):
        key = (sections, lo, hi)
        if key not in self._candidates:
            segs = [s for s in self._all_segments() if s[2] in sections and lo <= s[3] <= hi]
            length = np.array([s[4] for s in segs])
            self._candidates[key] = (segs, length / length.sum() if len(segs) else length)
        return self._candidates[key]

    def draw(self, rng, target_sections, distance_range, n: int, file: str) -> list[tuple[object, float]]:
        try:
            sections = tuple(
                sorted({SECTION_LISTS[s] for s in parse_list(target_sections, file, "target_sections")})
            )
        except KeyError as exc:
            raise UserError(
                f"target_sections {target_sections!r}: unknown section list {exc}", file
            ) from None
        lo, hi = (float(v) for v in parse_list(distance_range, file, "distance_range"))
        segs, prob = self.candidates(sections, lo, hi)
        if not segs:
            raise UserError(
                f"{self.cell.label}: no segment of {list(sections)} within {lo}-{hi} um of the soma", file
            )
        picks = rng.choice(len(segs), size=n, p=prob)
        return [(segs[i][0], segs[i][1]) for i in picks]


def placement_rng(seed: int, gid: int):
    return np.random.default_rng([int(seed), int(gid)])


def finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
