"""The embedded default circuit: a small, generated, layered cortical column in SONATA.

``build_default_circuit(directory)`` writes, in about a second and with nothing but the package:

* ``morphologies/*.swc`` – synthetic pyramidal, basket and bipolar cells (:mod:`.morphology`);
* ``emodels/*.json`` – the e-models the nodes' ``model_template = "msr:<name>"`` select;
* ``nodes.h5`` – population ``neurons`` (x, y, z, orientation quaternion, morphology,
  model_template, model_type, layer, mtype, etype, synapse_class, morph_class);
* ``virtual_nodes.h5`` – population ``thalamus`` (virtual afferent fibres) and
  ``input_spikes.h5``, their Poisson spike trains for a SONATA ``synapse_replay`` input;
* ``edges.h5`` (``neurons__neurons__chemical``) and ``input_edges.h5``
  (``thalamus__neurons__chemical``): synapses with afferent_section_id/pos, syn_weight (µS),
  delay (ms), rise/decay times (ms) and syn_type_id (>= 100 excitatory, BBP convention);
* ``circuit_config.json`` and ``node_sets.json``.

The column's layer thicknesses are those of the rat somatosensory cortex (Markram et al. 2015,
Cell 163:456, Table 1: L1 165, L2 149, L3 353, L4 190, L5 525, L6 700 µm); y points to the pia.
Other modules may append populations (the vasculature) to ``circuit_config.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import morphio
import numpy as np

from multiscale_run.circuit import morphology
from multiscale_run.circuit.emodels import EMODELS, with_pump_density
from multiscale_run.circuit.sonata_files import write_edges, write_nodes
from multiscale_run.circuit.spikes import write_spike_file

POPULATION = "neurons"
VIRTUAL_POPULATION = "thalamus"
NODE_SET = "neurons"

LAYER_THICKNESS_UM = {"1": 165.0, "2": 149.0, "3": 353.0, "4": 190.0, "5": 525.0, "6": 700.0}
#: share of the neurons in each layer (roughly the rat SSCx densities × thicknesses)
LAYER_SHARE = {"1": 0.02, "2": 0.12, "3": 0.20, "4": 0.18, "5": 0.20, "6": 0.28}
INHIBITORY_SHARE = 0.2
MORPHOLOGY_VARIANTS = 3
INPUT_RATE_HZ = 12.0
INPUTS_PER_NEURON = 30
#: the stimulation window (ms): thalamic spikes and current clamps act only inside it, so that a
#: default run (tstop 1000 ms) shows activity, then recovery of Na+ and ATP after it
INPUT_WINDOW_MS = (50.0, 250.0)


@dataclass(frozen=True)
class DefaultCircuit:
    """What ``build_default_circuit`` wrote and what the simulation config needs from it."""

    directory: Path
    circuit_config: Path
    node_sets_file: Path
    population: str
    node_set: str
    #: the SONATA ``inputs`` section, with absolute paths (see :meth:`inputs_relative_to`)
    inputs: dict
    #: (min xyz, max xyz) of every morphology sample, soma spheres included, in µm
    bounding_box_um: tuple[np.ndarray, np.ndarray]
    n_neurons: int
    mtypes: dict[str, int] = field(default_factory=dict)

    def inputs_relative_to(self, config_dir: Path) -> dict:
        """The inputs section with file paths relative to the simulation config's folder."""
        import os

        out = json.loads(json.dumps(self.inputs))
        for spec in out.values():
            for key in [k for k in spec if k.endswith("_file")]:
                spec[key] = os.path.relpath(spec[key], config_dir)
        return out


def _layer_bounds() -> dict[str, tuple[float, float]]:
    """y range of each layer; y = 0 at the bottom of L6, the pia at the top of L1."""
    bounds, top = {}, sum(LAYER_THICKNESS_UM.values())
    for layer, thickness in LAYER_THICKNESS_UM.items():
        bounds[layer] = (top - thickness, top)
        top -= thickness
    return bounds


def _mtype(layer: str, inhibitory: bool, rng: np.random.Generator) -> tuple[str, str, str]:
    """(mtype, morphology kind, e-model) of a cell in ``layer``."""
    name = "L23" if layer in ("2", "3") else f"L{layer}"
    if inhibitory or layer == "1":
        if rng.random() < 0.6:
            return f"{name}_BC", "basket", "FS"
        return f"{name}_BP", "bipolar", "IR"
    return (f"{name}_TPC" if layer == "5" else f"{name}_PC"), "pyramidal", "RS"


def _quaternion_about_y(angle_rad: np.ndarray) -> np.ndarray:
    """(w, x, y, z) of rotations by ``angle_rad`` about the column axis y."""
    return np.stack([np.cos(angle_rad / 2), 0 * angle_rad, np.sin(angle_rad / 2), 0 * angle_rad], axis=1)


def rotate(points: np.ndarray, quaternion_wxyz: np.ndarray) -> np.ndarray:
    """Rotate (n, 3) points by one unit quaternion (w, x, y, z)."""
    w, x, y, z = quaternion_wxyz / np.linalg.norm(quaternion_wxyz)
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    return points @ rot.T


def _place(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Layer labels and soma positions (µm) of ``n`` cells in a column of radius ~ sqrt(n)."""
    layers = np.array(list(LAYER_SHARE))
    counts = np.floor(np.array(list(LAYER_SHARE.values())) * n).astype(int)
    counts[np.argsort(-np.array(list(LAYER_SHARE.values())))[: n - counts.sum()]] += 1
    layer_of = np.repeat(layers, counts)
    bounds = _layer_bounds()
    radius = 60.0 * np.sqrt(max(n, 1) / 50.0)
    r = radius * np.sqrt(rng.random(n))
    phi = 2 * np.pi * rng.random(n)
    lo = np.array([bounds[layer][0] for layer in layer_of])
    hi = np.array([bounds[layer][1] for layer in layer_of])
    y = lo + (hi - lo) * (0.15 + 0.7 * rng.random(n))
    return layer_of, np.stack([r * np.cos(phi), y, r * np.sin(phi)], axis=1)


def _write_morphologies(directory: Path, rng: np.random.Generator) -> dict[tuple[str, str], list[str]]:
    """SWC files per (layer group, kind), several variants each; returns their names."""
    bounds = _layer_bounds()
    pia = sum(LAYER_THICKNESS_UM.values())
    names: dict[tuple[str, str], list[str]] = {}
    for layer in LAYER_THICKNESS_UM:
        mid = 0.5 * sum(bounds[layer])
        for kind in ("pyramidal", "basket", "bipolar"):
            if kind == "pyramidal" and layer == "1":
                continue
            for v in range(MORPHOLOGY_VARIANTS):
                if kind == "pyramidal":
                    builder = morphology.pyramidal(rng, apical_length_um=min(pia - mid - 40.0, 1100.0))
                else:
                    builder = getattr(morphology, kind)(rng)
                name = f"L{layer}_{kind}_{v}"
                morphology.write_swc(builder, directory / f"{name}.swc")
                names.setdefault((layer, kind), []).append(name)
    return names


def _synapse_sites(morph_dir: Path, names: list[str], rng_seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Per morphology: SONATA section ids (soma 0, morphio section i -> i + 1) by neurite kind."""
    sites = {}
    for name in names:
        m = morphio.Morphology(str(morph_dir / f"{name}.swc"))
        types = np.asarray(m.section_types)
        ids = np.arange(1, len(types) + 1)
        sites[name] = {
            "dendrite": ids[
                (types == int(morphio.SectionType.basal_dendrite))
                | (types == int(morphio.SectionType.apical_dendrite))
            ],
            "proximal": np.concatenate([[0], ids[(types == int(morphio.SectionType.basal_dendrite))]]),
        }
    return sites


def _choose_sites(
    rng: np.random.Generator,
    targets: np.ndarray,
    morph_of: np.ndarray,
    sites: dict[str, dict[str, np.ndarray]],
    where: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A section id and position for each synapse (``where``: 'dendrite' or 'proximal')."""
    section = np.empty(len(targets), dtype=np.int64)
    for name in np.unique(morph_of[targets]):
        for kind in ("dendrite", "proximal"):
            mask = (morph_of[targets] == name) & (where == kind)
            choices = sites[name][kind]
            section[mask] = choices[rng.integers(0, len(choices), mask.sum())]
    return section, rng.uniform(0.1, 0.9, len(targets))


def build_default_circuit(directory: Path, n_neurons: int = 50, seed: int = 1) -> DefaultCircuit:
    """Write the default circuit into ``directory`` (created if missing); see the module doc."""
    if n_neurons < 1:
        raise ValueError(f"n_neurons must be >= 1, got {n_neurons}")
    directory = Path(directory).resolve()
    morph_dir, emodel_dir = directory / "morphologies", directory / "emodels"
    for d in (directory, morph_dir, emodel_dir):
        d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, emodel in EMODELS.items():
        (emodel_dir / f"{name}.json").write_text(json.dumps(emodel, indent=2) + "\n")
    library = _write_morphologies(morph_dir, rng)

    layer, pos = _place(n_neurons, rng)
    inhibitory = rng.random(n_neurons) < INHIBITORY_SHARE
    kinds = [_mtype(layer[i], inhibitory[i], rng) for i in range(n_neurons)]
    mtype = np.array([k[0] for k in kinds])
    emodel = np.array([k[2] for k in kinds])
    morph = np.array(
        [library[(layer[i], kinds[i][1])][rng.integers(MORPHOLOGY_VARIANTS)] for i in range(n_neurons)]
    )
    # one e-model per (e-type, morphology): the pump density depends on the cell's area/volume
    for name, kind in sorted(set(zip(morph, emodel, strict=True))):
        area, volume = morphology.membrane_area_and_volume(morph_dir / f"{name}.swc")
        specific = with_pump_density(EMODELS[kind], area / volume)
        (emodel_dir / f"{kind}_{name}.json").write_text(json.dumps(specific, indent=2) + "\n")
    inhibitory = np.array([k[1] != "pyramidal" for k in kinds])
    angle = rng.uniform(0, 2 * np.pi, n_neurons)
    quat = _quaternion_about_y(angle)
    write_nodes(
        directory / "nodes.h5",
        POPULATION,
        {
            "x": pos[:, 0],
            "y": pos[:, 1],
            "z": pos[:, 2],
            "orientation_w": quat[:, 0],
            "orientation_x": quat[:, 1],
            "orientation_y": quat[:, 2],
            "orientation_z": quat[:, 3],
            "morphology": morph,
            "model_template": np.array([f"msr:{e}_{m}" for e, m in zip(emodel, morph, strict=True)]),
            "layer": layer,
            "mtype": mtype,
            "etype": emodel,
            "synapse_class": np.where(inhibitory, "INH", "EXC"),
            "morph_class": np.where(inhibitory, "INT", "PYR"),
        },
        model_type="biophysical",
    )

    sites = _synapse_sites(morph_dir, sorted(set(morph)), seed)
    # Recurrent synapses: distance-dependent connection probability (Gaussian, sigma 150 µm),
    # two synapses per connection; inhibitory ones near the soma, excitatory ones on dendrites.
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    p = np.where(inhibitory[:, None], 0.5, 0.2) * np.exp(-d2 / (2 * 150.0**2))
    np.fill_diagonal(p, 0.0)
    pre, post = np.nonzero(rng.random(p.shape) < p)
    pre, post = np.repeat(pre, 2), np.repeat(post, 2)
    inh = inhibitory[pre]
    section, position = _choose_sites(rng, post, morph, sites, np.where(inh, "proximal", "dendrite"))
    dist = np.sqrt(d2[pre, post])
    write_edges(
        directory / "edges.h5",
        f"{POPULATION}__{POPULATION}__chemical",
        (POPULATION, n_neurons),
        (POPULATION, n_neurons),
        pre,
        post,
        {
            "afferent_section_id": section,
            "afferent_section_pos": position,
            "syn_weight": np.where(inh, 0.004, 0.0015) * rng.uniform(0.7, 1.3, len(pre)),
            "delay": 0.8 + dist / 300.0,  # ms; axonal conduction ~0.3 m/s
            "rise_time": np.where(inh, 1.0, 0.2),
            "decay_time": np.where(inh, 8.0, 1.7),
            "syn_type_id": np.where(inh, 0, 100).astype(np.int64),
        },
    )

    # Thalamic-like virtual fibres with Poisson spike trains, replayed onto excitatory synapses.
    n_fibres = max(20, n_neurons)
    write_nodes(
        directory / "virtual_nodes.h5",
        VIRTUAL_POPULATION,
        {"model_type": np.array(["virtual"] * n_fibres)},
        n_fibres,
    )
    post = np.repeat(np.arange(n_neurons), INPUTS_PER_NEURON)
    pre = rng.integers(0, n_fibres, len(post))
    section, position = _choose_sites(rng, post, morph, sites, np.full(len(post), "dendrite"))
    write_edges(
        directory / "input_edges.h5",
        f"{VIRTUAL_POPULATION}__{POPULATION}__chemical",
        (VIRTUAL_POPULATION, n_fibres),
        (POPULATION, n_neurons),
        pre,
        post,
        {
            "afferent_section_id": section,
            "afferent_section_pos": position,
            "syn_weight": np.full(len(post), 0.005),
            "delay": np.full(len(post), 1.0),
            "rise_time": np.full(len(post), 0.2),
            "decay_time": np.full(len(post), 1.7),
            "syn_type_id": np.full(len(post), 100, dtype=np.int64),
        },
    )
    t0, t1 = INPUT_WINDOW_MS
    counts = rng.poisson(INPUT_RATE_HZ * (t1 - t0) / 1000.0, n_fibres)
    fibre = np.repeat(np.arange(n_fibres), counts)
    times = np.round(rng.uniform(t0, t1, counts.sum()), 3)
    write_spike_file(directory / "input_spikes.h5", {VIRTUAL_POPULATION: (fibre, times)})

    node_sets = {
        NODE_SET: {"population": POPULATION},
        "Excitatory": {"population": POPULATION, "synapse_class": "EXC"},
        "Inhibitory": {"population": POPULATION, "synapse_class": "INH"},
        **{f"Layer{k}": {"population": POPULATION, "layer": k} for k in LAYER_THICKNESS_UM},
        **{m: {"population": POPULATION, "mtype": m} for m in sorted(set(mtype))},
    }
    (directory / "node_sets.json").write_text(json.dumps(node_sets, indent=2) + "\n")
    circuit = {
        "version": 2,
        "components": {"morphologies_dir": "morphologies", "biophysical_neuron_models_dir": "emodels"},
        "node_sets_file": "node_sets.json",
        "networks": {
            "nodes": [
                {"nodes_file": "nodes.h5", "populations": {POPULATION: {"type": "biophysical"}}},
                {"nodes_file": "virtual_nodes.h5", "populations": {VIRTUAL_POPULATION: {"type": "virtual"}}},
            ],
            "edges": [
                {
                    "edges_file": "edges.h5",
                    "populations": {f"{POPULATION}__{POPULATION}__chemical": {"type": "chemical"}},
                },
                {
                    "edges_file": "input_edges.h5",
                    "populations": {f"{VIRTUAL_POPULATION}__{POPULATION}__chemical": {"type": "chemical"}},
                },
            ],
        },
    }
    (directory / "circuit_config.json").write_text(json.dumps(circuit, indent=2) + "\n")

    inputs = {
        "thalamic_poisson": {
            "input_type": "spikes",
            "module": "synapse_replay",
            "spike_file": str(directory / "input_spikes.h5"),
            "source": VIRTUAL_POPULATION,
            "node_set": NODE_SET,
            "delay": t0,
            "duration": t1 - t0,
        },
    }
    lo, hi = _bounding_box(morph_dir, morph, pos, quat)
    return DefaultCircuit(
        directory=directory,
        circuit_config=directory / "circuit_config.json",
        node_sets_file=directory / "node_sets.json",
        population=POPULATION,
        node_set=NODE_SET,
        inputs=inputs,
        bounding_box_um=(lo, hi),
        n_neurons=n_neurons,
        mtypes={str(m): int((mtype == m).sum()) for m in sorted(set(mtype))},
    )


def _bounding_box(morph_dir: Path, morph: np.ndarray, pos: np.ndarray, quat: np.ndarray):
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    cache: dict[str, np.ndarray] = {}
    for i, name in enumerate(morph):
        if name not in cache:
            m = morphio.Morphology(str(morph_dir / f"{name}.swc"))
            r = float(np.max(m.soma.diameters)) / 2
            cache[name] = np.vstack([m.points, m.soma.points + r, m.soma.points - r])
        pts = rotate(cache[name], quat[i]) + pos[i]
        lo, hi = np.minimum(lo, pts.min(0)), np.maximum(hi, pts.max(0))
    return lo, hi
