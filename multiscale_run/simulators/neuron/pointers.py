"""Segment values through ``h.PtrVector`` gathers/scatters, and NEURON's own soma records.

A part of :class:`~multiscale_run.simulators.neuron.adapter.NeuronSim` (a mixin: it uses the
adapter's ``h``, ``settings``, segment order and geometry).
"""

from __future__ import annotations

import numpy as np

from multiscale_run.simulators.neuron.settings import SEGMENT_CURRENTS, SEGMENT_VARIABLES, current_nA
from multiscale_run.simulators.neuron.soma_samples import SomaSamples


class SegmentPointers:
    """Pointers to every segment variable and the soma records."""

    def _make_pointers(self) -> None:
        h = self.h
        n = len(self._segment_sections)
        self._buffer = h.Vector(max(n, 1))
        # One numpy view of the buffer, made once: Vector.as_numpy costs more than the gather itself.
        self._buffer_view = self._buffer.as_numpy()[:n]
        self._dummy = h.Vector(len(SEGMENT_VARIABLES))
        self._pointers: dict[str, object] = {}
        self._missing: dict[str, int] = {}
        # Each segment object once, and each section asked once whether it has a variable
        # (mechanisms, and so ions, are inserted per section): 9 variables x every segment is the
        # hot part of the set-up.
        segments = [sec(x) for sec, x in self._segment_sections]
        first_of_section = [i == 0 or segments[i - 1].sec != seg.sec for i, seg in enumerate(segments)]
        for slot, (name, (_, _, attr)) in enumerate(SEGMENT_VARIABLES.items()):
            ptr = h.PtrVector(max(n, 1))
            ref_name, placeholder = f"_ref_{attr}", self._dummy._ref_x[slot]
            missing, has = 0, False
            for i, seg in enumerate(segments):
                if first_of_section[i]:
                    has = _has(seg, ref_name)
                if has:
                    ptr.pset(i, getattr(seg, ref_name))
                else:
                    ptr.pset(i, placeholder)
                    missing += 1
            if n == 0:
                ptr.pset(0, self._segment_ref(None, 0.5, name)[0])
            self._pointers[name] = ptr
            self._missing[name] = missing
        self._dummy.fill(np.nan)

    def _segment_ref(self, sec, x: float, variable: str) -> tuple[object, bool]:
        """(NEURON reference to ``variable`` in segment ``sec(x)``, whether the segment has it).

        A segment without the ion (or no segment, ``sec`` None) gets a reference into a NaN
        placeholder: it reads NaN and writes go nowhere.
        """
        attr = SEGMENT_VARIABLES[variable][2]
        if sec is not None:
            try:
                return getattr(sec(x), f"_ref_{attr}"), True
            except (AttributeError, NameError, RuntimeError):
                pass
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
            refs = [self._segment_ref(*self._segment_sections[i], base)[0] for i in self._soma_index]
            self._soma_samples[report] = SomaSamples(self.h, refs, self.settings.dt_ms, convert)

    def _pointer(self, variable: str):
        try:
            return self._pointers[variable]
        except KeyError:
            raise KeyError(
                f"NeuronSim has no variable {variable!r} (one of {sorted(self._pointers)})"
            ) from None


def _has(segment, ref_name: str) -> bool:
    """Whether a NEURON segment has the variable behind ``ref_name`` (``_ref_nai``, ...)."""
    try:
        getattr(segment, ref_name)
    except (AttributeError, NameError, RuntimeError):
        return False
    return True
