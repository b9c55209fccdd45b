"""Segment values through ``h.PtrVector`` gathers/scatters, and NEURON's own soma records.

A part of :class:`~multiscale_run.simulators.neuron.adapter.NeuronSim` (a mixin: it uses the
adapter's ``h``, ``settings``, segment order (``_section_list``, ``_n_segments``) and geometry).

A PtrVector is filled by one hoc function per range variable (:func:`_hoc_filler`) that walks the
segment order (``forsec`` over the section list, ``for (x, 0)`` along each section) and asks
each section once whether it has the variable's mechanism (``ismembrane``). Filling 9 variables
of ~70 000 segments from Python (a segment object, a ``_ref_`` attribute and a ``pset`` call per
value) took 5.4 s of a 1000-neuron set-up.
"""

from __future__ import annotations

import numpy as np

from multiscale_run.simulators.neuron.settings import SEGMENT_CURRENTS, SEGMENT_VARIABLES, current_nA
from multiscale_run.simulators.neuron.soma_samples import SomaSamples


def mechanism_of(attr: str) -> str | None:
    """The mechanism a segment needs to have range variable ``attr`` (None: every segment has it).

    NEURON names an ion's variables ``i<ion>`` (current density), ``<ion>i``, ``<ion>o``
    (concentrations) and ``e<ion>`` (reversal potential), all owned by ``<ion>_ion``; a
    mechanism's own parameters are ``<name>_<mechanism>``.
    """
    if attr == "v":
        return None
    if "_" in attr:
        return attr.split("_", 1)[1]
    if attr[0] in "ie":
        return f"{attr[1:]}_ion"
    return f"{attr[:-1]}_ion"


#: hoc: point PtrVector $o1 at ``attr`` in each segment of SectionList $o2 (in order); a segment
#: without it points at $o3.x[$4] (a placeholder). Vector $o5 (zeros, one per segment) gets 1 where
#: the segment has it. Returns how many segments lack it. The arguments go through global objrefs:
#: NEURON 9.0 corrupts an object argument (``$o``) used inside ``forsec`` (a later Python access
#: to it segfaults).
_HOC_FILLER = """
objref msr_ptr_, msr_list_, msr_dummy_, msr_has_
func msr_ptr_{name}() {{ local i, pos, missing
    msr_ptr_ = $o1
    msr_list_ = $o2
    msr_dummy_ = $o3
    msr_has_ = $o5
    i = 0
    missing = 0
    forsec msr_list_ {{
        if ({has}) {{
            for (pos, 0) {{
                msr_ptr_.pset(i, &{attr}(pos))
                msr_has_.x[i] = 1
                i += 1
            }}
        }} else {{
            for (pos, 0) {{
                msr_ptr_.pset(i, &msr_dummy_.x[$4])
                i += 1
                missing += 1
            }}
        }}
    }}
    objref msr_ptr_, msr_list_, msr_dummy_, msr_has_
    return missing
}}
"""


def _hoc_filler(h, attr: str):
    """The hoc function filling a PtrVector with ``attr`` (defined once per process)."""
    name = f"msr_ptr_{attr}"
    if not h.name_declared(name):
        mechanism = mechanism_of(attr)
        has = "1" if mechanism is None else f'ismembrane("{mechanism}")'
        h(_HOC_FILLER.format(name=attr, attr=attr, has=has))
    return getattr(h, name)


class SegmentPointers:
    """Pointers to every segment variable and the soma records."""

    def _make_pointers(self) -> None:
        h = self.h
        n = self._n_segments
        self._buffer = h.Vector(max(n, 1))
        # One numpy view of the buffer, made once: Vector.as_numpy costs more than the gather itself.
        self._buffer_view = self._buffer.as_numpy()[:n]
        # one NaN placeholder per variable, and a scratch slot for other range variables
        self._dummy = h.Vector(len(SEGMENT_VARIABLES) + 1)
        self._pointers: dict[str, object] = {}
        self._missing: dict[str, int] = {}
        for slot, (name, (_, _, attr)) in enumerate(SEGMENT_VARIABLES.items()):
            self._pointers[name], has = self._segment_pointer(attr, slot)
            self._missing[name] = n - int(has.sum())
        self._dummy.fill(np.nan)

    def _segment_pointer(self, attr: str, slot: int) -> tuple[object, np.ndarray]:
        """(PtrVector to range variable ``attr`` of every local segment, in the segment order,
        whether each segment has it). Segments without it (and the one entry of a rank without
        segments) point at placeholder ``slot``: they read NaN and writes go nowhere."""
        h = self.h
        n = self._n_segments
        ptr, has = h.PtrVector(max(n, 1)), h.Vector(n)
        if n == 0:
            ptr.pset(0, self._dummy._ref_x[slot])
            return ptr, np.zeros(0, dtype=bool)
        _hoc_filler(h, attr)(ptr, self._section_list, self._dummy, slot, has)
        return ptr, has.as_numpy().astype(bool)

    def _gather(self, ptr) -> np.ndarray:
        """The values ``ptr`` points at (one per local segment)."""
        ptr.gather(self._buffer)
        return self._buffer_view.copy()

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
        try:
            return self._pointers[variable]
        except KeyError:
            raise KeyError(
                f"NeuronSim has no variable {variable!r} (one of {sorted(self._pointers)})"
            ) from None
