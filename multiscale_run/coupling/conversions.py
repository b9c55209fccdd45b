"""Named unit conversions for coupling transforms: physics with units and a source, not magic strings.

A coupling's ``transform`` may be one of these names instead of an expression; it stands for the
expression given here (evaluated by :class:`~multiscale_run.coupling.transform.Transform` with
``vals`` the mapped source values and ``dt_ms`` the destination's step). ``msr check`` also checks
that the coupled variables carry the conversion's units.
"""

from __future__ import annotations

from dataclasses import dataclass

from multiscale_run.coupling.transform import Transform


@dataclass(frozen=True)
class Conversion:
    """``expression`` turns values in ``src_unit`` into ``dest_unit``."""

    name: str
    expression: str
    src_unit: str
    dest_unit: str
    description: str


CONVERSIONS = {
    c.name: c
    for c in (
        Conversion(
            "monovalent_current_nA_to_ions",
            # 1 nA over 1 ms is 1e-12 C; an ion carries e = FARADAY / AVOGADRO coulombs
            "vals * dt_ms * 1e-12 * AVOGADRO / FARADAY",
            "nA",
            "1",
            "ions of valence +1 a membrane current (outward > 0) carries during the destination's "
            "step: I·dt / e (Faraday's law per ion; CODATA 2018 F and SI N_A)",
        ),
        Conversion(
            "flow_ratio_to_F_in",
            # the J15 resting inflow F0 (Jolivet et al. 2015, PLoS Comput Biol 11:e1004036, Table 2)
            "0.012 * vals",
            "1",
            "1/s",
            "J15 blood inflow F_in (s⁻¹): the resting F0 = 0.012 s⁻¹ times the flow relative to rest",
        ),
    )
}


def expression_of(text: str) -> str:
    """The expression a coupling's ``transform`` stands for (a conversion name, or itself)."""
    text = text.strip()
    return CONVERSIONS[text].expression if text in CONVERSIONS else text


def transform(text: str) -> Transform:
    """The :class:`Transform` of a coupling's ``transform`` text (a conversion name or an expression)."""
    return Transform(expression_of(text))
