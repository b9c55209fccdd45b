"""Segment values through ``h.PtrVector`` gathers/scatters, and NEURON's own soma records.

A part of :class:`~multiscale_run.simulators.neuron.adapter.NeuronSim` (a mixin: it uses the
adapter's ``h``, ``settings``, segment order (``_section_list``, ``_n_segments``) and geometry).

A variable's PtrVector is made when the variable is first read or written, by one hoc procedure
per variable (:func:`_hoc_filler`) that walks the segment order (``forsec`` over the section
list, ``for (x, 0)`` along each section) and asks each section once whether it has the
variable's ion (``ismembrane``). Filling all 9 variables of the 73 000 segments of 1000 default
cells from Python (a segment object, a ``_ref_`` attribute and a ``pset`` per value) took 10 s
on the loaded machine; the default run uses 3 of them, in ~0.2 s each.
"""

from __future__ import annotations

import numpy as np

from multiscale_run.simulators.neuron.settings import SEGMENT_CURRENTS, SEGMENT_VARIABLES, current_nA
from multiscale_run.simulators.neuron.soma_samples import SomaSamples


def ion_of(attr: str) -> str | None:
    """The ion mechanism a segment needs to have segment variable ``attr`` (None for ``v``, which
    every segment has): NEURON names an ion's current density ``i<ion>`` and its concentrations
    ``<ion>i``, ``<ion>o``, all owned by ``<ion>_ion``."""
    if attr == "v":
        return None
    return f"{attr[1:]}_ion" if attr.startswith("i") else f"{attr[:-1]}_ion"


#: hoc: point PtrVector $o1 at ``attr`` in each segment of SectionList $o2 (in order); a segment
#: without it points at $o3.x[$4] (a placeholder). The objects go through global objrefs
#: (:mod:`~multiscale_run.simulators.neuron.hoc_batch` says why).
_HOC_FILLER = """
objref msr_ptr_, msr_list_, msr_dummy_
proc msr_ptr_{name}() {{ local i, pos
    msr_ptr_ = $o1
    msr_list_ = $o2
    msr_dummy_ = $o3
    i = 0
    forsec msr_list_ {{
        if ({has}) {{
            for (pos, 0) {{
                msr_ptr_.pset(i, &{attr}(pos))
                i += 1
            }}
        }} else {{
            for (pos, 0) {{
                msr_ptr_.pset(i, &msr_dummy_.x[$4])
                i += 1
            }}
        }}
    }}
    objref msr_ptr_, msr_list_, msr_dummy_
}}
"""


def _hoc_filler(h, attr: str):
    """The hoc procedure filling a PtrVector with ``attr`` (defined once per process)."""
    name = f"msr_ptr_{attr}"
    if not h.name_declared(name):
        ion = ion_of(attr)
        has = "1" if ion is None else f'ismembrane("{ion}")'
        h(_HOC_FILLER.format(name=attr, attr=attr, has=has))
    return getattr(h, name)


class SegmentPointers:
    """Pointers to the segment variables (each made when first read or written) and the soma
    records."""

    def _make_pointers(self) -> None:
        h = self.h
        n = self._n_segments
        self._buffer = h.Vector(max(n, 1))
        # One numpy view of the buffer, made once: Vector.as_numpy costs more than the gather itself.
        self._buffer_view = self._buffer.as_numpy()[:n]
        self._dummy = h.Vector(len(SEGMENT_VARIABLES))  # one NaN placeholder per variable
        self._dummy.fill(np.nan)
        self._pointers: dict[str, object] = {}

    def _segment_pointer(self, variable: str):
        """PtrVector to ``variable`` of every local segment, in the segment order. Segments
        without it (and the one entry of a rank without segments) point at its placeholder:
        they read NaN and writes go nowhere."""
        h = self.h
        n, slot = self._n_segments, list(SEGMENT_VARIABLES).index(variable)
        ptr = h.PtrVector(max(n, 1))
        if n == 0:
            ptr.pset(0, self._dummy._ref_x[slot])
        else:
            _hoc_filler(h, SEGMENT_VARIABLES[variable][2])(ptr, self._section_list, self._dummy, slot)
        return ptr

    def _segment_ref(self, sec, x: float, variable: str) -> tuple[object, bool]:
        """(NEURON reference to ``variable`` in segment ``sec(x)``, whether the segment has it).

        A segment without the ion gets a reference into a NaN placeholder: it reads NaN and
        writes go nowhere.
        """
        attr = SEGMENT_VARIABLES[variable][2]
        try:
            return getattr(sec(x), f"_ref_{attr}"), True
        except (AttributeError, NameError, RuntimeError):
            return self._dummy._ref_x[list(SEGMENT_VARIABLES).index(variable)], False

    def _record_somata(self) -> None:
        """Let NEURON record the settings' soma variables every step (before finitialize)."""
        self._soma_samples: dict[str, SomaSamples] = {}
        area = self._geometry.area_um2[self._soma_index]
        for report, variable in self.settings.soma_reports:
            base, convert = variable, None
            if variable in SEGMENT_CURRENTS:
                base, convert = SEGMENT_CURRENTS[variable][0], lambda density: current_nA(density, area)
            elif variable not in SEGMENT_VARIABLES:
                self._pointer(variable)  # raises the usual unknown-variable error
            refs = [self._segment_ref(sec, x, base)[0] for sec, x in self._soma_segments]
            self._soma_samples[report] = SomaSamples(self.h, refs, self.settings.dt_ms, convert)

    def _pointer(self, variable: str):
        if variable not in SEGMENT_VARIABLES:
            raise KeyError(f"NeuronSim has no variable {variable!r} (one of {sorted(SEGMENT_VARIABLES)})")
        if variable not in self._pointers:
            self._pointers[variable] = self._segment_pointer(variable)
        return self._pointers[variable]
