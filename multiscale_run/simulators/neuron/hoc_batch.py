"""Building a whole cell's sections in a few hoc calls instead of many Python→NEURON calls.

Each Python call into NEURON costs ~1-10 µs (a ``h.Vector`` from numpy ~10 µs, ``sec.insert``
~7 µs): a 1000-cell set-up made ~130 000 Vectors and ~200 000 inserts. Here one hoc procedure
adds the 3-D points of every section of a cell from four Vectors (:func:`add_points`), and one
hoc procedure per e-model section group, written once per process, sets Ra, cm, inserts the
mechanisms and sets their parameters on every section of the group (:func:`apply_group`). The
numbers are the same: hoc parses the shortest round-trip decimal of each double back to it.

NEURON 9.0 corrupts an object argument (``$o``) that is used inside ``forsec`` (a later access to
it from Python segfaults): the procedures take their objects through global objrefs.
"""

from __future__ import annotations

import numpy as np

_HOC_POINTS = """
objref msr_pt_list_, msr_pt_x_, msr_pt_y_, msr_pt_z_, msr_pt_d_, msr_pt_off_
objref msr_pt_xs_, msr_pt_ys_, msr_pt_zs_, msr_pt_ds_
msr_pt_xs_ = new Vector()
msr_pt_ys_ = new Vector()
msr_pt_zs_ = new Vector()
msr_pt_ds_ = new Vector()
proc msr_add_points() { local k, first, last
    msr_pt_list_ = $o1
    msr_pt_x_ = $o2
    msr_pt_y_ = $o3
    msr_pt_z_ = $o4
    msr_pt_d_ = $o5
    msr_pt_off_ = $o6
    k = 0
    forsec msr_pt_list_ {
        first = msr_pt_off_.x[k]
        last = msr_pt_off_.x[k + 1] - 1
        msr_pt_xs_.resize(0)
        msr_pt_ys_.resize(0)
        msr_pt_zs_.resize(0)
        msr_pt_ds_.resize(0)
        msr_pt_xs_.copy(msr_pt_x_, first, last)
        msr_pt_ys_.copy(msr_pt_y_, first, last)
        msr_pt_zs_.copy(msr_pt_z_, first, last)
        msr_pt_ds_.copy(msr_pt_d_, first, last)
        pt3dadd(msr_pt_xs_, msr_pt_ys_, msr_pt_zs_, msr_pt_ds_)
        k += 1
    }
    objref msr_pt_list_, msr_pt_x_, msr_pt_y_, msr_pt_z_, msr_pt_d_, msr_pt_off_
}
"""


def add_points(h, sections: list, points: list[np.ndarray], diameters: list[np.ndarray]) -> None:
    """``pt3dadd`` the 3-D points (n_k, 3) and diameters (n_k,) of each section (µm), in one call;
    a section with no points is left as it is."""
    if not h.name_declared("msr_add_points"):
        h(_HOC_POINTS)
    keep = [k for k, p in enumerate(points) if len(p)]
    if not keep:
        return
    chosen = h.SectionList([sections[k] for k in keep])
    xyz = np.ascontiguousarray(np.concatenate([points[k] for k in keep]).T)
    d = np.concatenate([diameters[k] for k in keep]).astype(np.float64)
    offsets = np.concatenate([[0], np.cumsum([len(points[k]) for k in keep])]).astype(np.float64)
    h.msr_add_points(
        chosen, h.Vector(xyz[0]), h.Vector(xyz[1]), h.Vector(xyz[2]), h.Vector(d), h.Vector(offsets)
    )


_HOC_GROUP = """
objref msr_group_list_
proc {name}() {{
    msr_group_list_ = $o1
    forsec msr_group_list_ {{
{body}
    }}
    objref msr_group_list_
}}
"""
_GROUP_PROCS: dict[str, str] = {}  # the hoc text of a group's settings -> its procedure's name


def _group_body(settings: dict) -> str:
    lines = [f"        {key} = {float(settings[key])!r}" for key in ("Ra", "cm") if key in settings]
    for mech, params in settings.get("mechanisms", {}).items():
        lines.append(f"        insert {mech}")
        lines += [f"        {name}_{mech} = {float(value)!r}" for name, value in params.items()]
    return "\n".join(lines)


def apply_group(h, sections: list, settings: dict) -> None:
    """Set an e-model group's ``Ra``, ``cm`` and mechanisms (inserted in order, then their
    parameters) on every section of ``sections``, as ``setattr``/``insert`` on each would."""
    if not sections:
        return
    body = _group_body(settings)
    if body not in _GROUP_PROCS:
        name = f"msr_emodel_group_{len(_GROUP_PROCS)}"
        h(_HOC_GROUP.format(name=name, body=body))
        _GROUP_PROCS[body] = name
    getattr(h, _GROUP_PROCS[body])(h.SectionList(sections))


_HOC_POINT_PROCESSES = """
objref msr_pp_list_, msr_pp_x_, msr_pp_values_, msr_pp_out_, msr_pp_
proc {name}() {{ local k
    msr_pp_list_ = $o1
    msr_pp_x_ = $o2
    msr_pp_values_ = $o3
    msr_pp_out_ = $o4
    k = 0
    forsec msr_pp_list_ {{
        msr_pp_ = new {mechanism}(msr_pp_x_.x[k])
{body}
        msr_pp_out_.append(msr_pp_)
        k += 1
    }}
    objref msr_pp_list_, msr_pp_x_, msr_pp_values_, msr_pp_out_, msr_pp_
}}
"""
_POINT_PROCS: dict[tuple[str, tuple[str, ...]], str] = {}  # (mechanism, parameters) -> procedure


def point_processes(h, mechanism: str, sections: list, x: np.ndarray, parameters: dict) -> list:
    """One point process ``mechanism`` at ``sections[k](x[k])`` for each k, in order, with
    parameter ``name`` = ``parameters[name][k]`` (set in the dict's order), as
    ``h.<mechanism>(sec(x))`` and ``setattr`` on each would."""
    if not len(sections):
        return []
    names = tuple(parameters)
    if (mechanism, names) not in _POINT_PROCS:
        name = f"msr_point_processes_{len(_POINT_PROCS)}"
        stride = len(names)
        body = "\n".join(
            f"        msr_pp_.{p} = msr_pp_values_.x[k * {stride} + {j}]" for j, p in enumerate(names)
        )
        h(_HOC_POINT_PROCESSES.format(name=name, mechanism=mechanism, body=body))
        _POINT_PROCS[mechanism, names] = name
    values = np.column_stack([np.asarray(parameters[p], dtype=np.float64) for p in names]).ravel()
    out = h.List()
    getattr(h, _POINT_PROCS[mechanism, names])(
        h.SectionList(sections), h.Vector(np.asarray(x, dtype=np.float64)), h.Vector(values), out
    )
    return list(out)


#: hoc: a NetCon onto each object of List $o1 with weight $o2.x[k], appended to List $o3 in
#: order: ``msr_gid_connect`` from gid $o5.x[k] through ParallelContext $o4 with delay $o6.x[k]
#: ms; ``msr_netcons`` without a source (events are given to it).
_HOC_NETCONS = """
objref msr_nc_, msr_nc_nil_
proc msr_gid_connect() { local k
    for k = 0, $o1.count() - 1 {
        msr_nc_ = $o4.gid_connect($o5.x[k], $o1.o(k))
        msr_nc_.weight[0] = $o2.x[k]
        msr_nc_.delay = $o6.x[k]
        $o3.append(msr_nc_)
    }
    objref msr_nc_
}
proc msr_netcons() { local k
    for k = 0, $o1.count() - 1 {
        msr_nc_ = new NetCon(msr_nc_nil_, $o1.o(k))
        msr_nc_.weight[0] = $o2.x[k]
        $o3.append(msr_nc_)
    }
    objref msr_nc_
}
"""


def _vector(h, values):
    return h.Vector(np.asarray(values, dtype=np.float64))


def _netcons(h, proc: str, targets: list, weights, *more) -> object:
    """hoc procedure ``proc`` of :data:`_HOC_NETCONS` on ``targets`` (a List made here)."""
    if not h.name_declared("msr_netcons"):
        h(_HOC_NETCONS)
    chosen, out = h.List(), h.List()
    for target in targets:
        chosen.append(target)
    getattr(h, proc)(chosen, _vector(h, weights), out, *more)
    return out


def gid_connect(h, pc, targets: list, sources, weights, delays):
    """``pc.gid_connect(sources[k], targets[k])`` with weight ``weights[k]`` and delay
    ``delays[k]`` (ms) for each k, in order; returns the NetCons (a hoc List)."""
    return _netcons(h, "msr_gid_connect", targets, weights, pc, _vector(h, sources), _vector(h, delays))


def netcons(h, targets: list, weights) -> list:
    """``h.NetCon(None, targets[k])`` with weight ``weights[k]`` for each k, in order."""
    return list(_netcons(h, "msr_netcons", targets, weights))


#: hoc: the weight changes of connection overrides with a delay. An event of ``cvode.event``
#: with a hoc statement (a Python callback does not survive NEURON's ``SaveState.save``, which
#: turns it into the statement ``{PythonObject}``): ``msr_set_weights(k)`` sets the weight of each
#: NetCon of change k to its value.
_HOC_WEIGHTS = """
objref msr_weight_netcons_, msr_weight_values_
msr_weight_netcons_ = new List()
msr_weight_values_ = new List()
proc msr_set_weights() { local i
    for i = 0, msr_weight_netcons_.o($1).count() - 1 {
        msr_weight_netcons_.o($1).o(i).weight[0] = msr_weight_values_.o($1).x[i]
    }
}
"""


def weight_change(h, netcons: list, weights: list) -> str:
    """The hoc statement that sets ``netcons``' weights to ``weights`` (for ``cvode.event``)."""
    if not h.name_declared("msr_set_weights"):
        h(_HOC_WEIGHTS)
    chosen = h.List()
    for nc in netcons:
        chosen.append(nc)
    h.msr_weight_netcons_.append(chosen)
    h.msr_weight_values_.append(_vector(h, weights))
    return f"msr_set_weights({int(h.msr_weight_netcons_.count()) - 1})"


#: hoc: msr_ionleak's gna, gk of each segment of SectionList $o1 set so that the net Na+ and K+
#: currents vanish: g - i_ion / (v - e_ion) (g kept where v = e_ion), clipped at 0; returns how
#: many were clipped. hoc compares within ``float_epsilon`` (1e-11): 0 for these comparisons, as
#: in Python, but not for the segment loop (``for (pos, 0)`` then visits more positions).
_HOC_CALIBRATION = """
objref msr_cal_list_
func msr_calibrate_ion_leaks() { local pos, drive, value, clipped, epsilon
    msr_cal_list_ = $o1
    epsilon = float_epsilon
    clipped = 0
    forsec msr_cal_list_ {
        if (ismembrane("msr_ionleak")) {
            for (pos, 0) {
                float_epsilon = 0
%s
                float_epsilon = epsilon
            }
        }
    }
    objref msr_cal_list_
    return clipped
}
"""
_HOC_CALIBRATION_ION = """
                drive = v(pos) - e{ion}(pos)
                value = g{ion}_msr_ionleak(pos)
                if (drive != 0) {{
                    value = g{ion}_msr_ionleak(pos) - i{ion}(pos) / drive
                }}
                if (value < 0) {{
                    clipped += 1
                    value = 0
                }}
                g{ion}_msr_ionleak(pos) = value"""


def calibrate_ion_leaks(h, sections) -> int:
    """Balance msr_ionleak's Na+ and K+ conductances in every segment of SectionList
    ``sections`` (after ``fcurrent``); returns how many were clipped to 0 (none without the
    mechanism)."""
    if not hasattr(h, "msr_ionleak"):
        return 0
    if not h.name_declared("msr_calibrate_ion_leaks"):
        h(_HOC_CALIBRATION % "".join(_HOC_CALIBRATION_ION.format(ion=ion) for ion in ("na", "k")))
    return int(h.msr_calibrate_ion_leaks(sections))
