"""SONATA ``conditions`` that act on the mechanisms rather than on cells (as neurodamus applies
them; its ``core/configuration.py`` and ``io/synapse_reader.py``, read for the facts):

- ``mechanisms``: ``{"<SUFFIX>": {"<name>": value}}`` sets the mod file's GLOBAL ``<name>_<SUFFIX>``
  (e.g. ``{"ProbAMPANMDA_EMS": {"init_depleted": true}}``), before the cells are built. msr sets
  GLOBALs of the .mod files it compiles (msr's and the circuit's); a suffix no such file
  defines, a name that is not one of its GLOBALs and a value that is not a number (or boolean)
  are refused by name.
- ``extracellular_calcium`` (mM): the release probability ``u_syn`` of each BBP synapse whose edge
  has ``u_hill_coefficient`` (K½, mM) is scaled by the constrained Hill function
  ``(K½⁴ + 16)/16 · Ca⁴ / (K½⁴ + Ca⁴)``, which is 1 at 2 mM (Markram et al. 2015, Cell 163:456,
  the in-vitro to in-vivo calcium scaling). Edges without ``u_hill_coefficient`` keep their
  ``u_syn``, as in neurodamus (logged).
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)


def _value(value) -> bool:
    return isinstance(value, bool) or (isinstance(value, int | float) and math.isfinite(value))


def mechanisms_problems(conditions: dict, declared: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(JSON path below ``conditions``, what is wrong) of ``conditions.mechanisms`` against the
    GLOBALs each compiled mechanism ``declared`` (the schema made it an object of objects)."""
    out = []
    for suffix, values in conditions.get("mechanisms", {}).items():
        where = f"mechanisms.{suffix}"
        if suffix not in declared:
            out.append(
                (where, f"no compiled .mod file defines mechanism {suffix!r} (msr sets the GLOBALs of those)")
            )
        else:
            for name, value in values.items():
                if name not in declared[suffix]:
                    known = sorted(declared[suffix])
                    out.append((f"{where}.{name}", f"{name!r} is not a GLOBAL of {suffix} ({known})"))
                elif not _value(value):
                    out.append((f"{where}.{name}", f"a number or a boolean, got {value!r}"))
    return out


def set_mechanism_globals(h, mechanisms: dict) -> None:
    """``<name>_<suffix> = value`` in NEURON for each (checked) entry (booleans as 1/0)."""
    for suffix, values in mechanisms.items():
        for name, value in values.items():
            log.debug("GLOBAL %s_%s = %s", name, suffix, value)
            setattr(h, f"{name}_{suffix}", float(value))


def constrained_hill(k_half, calcium_mM: float):
    """The factor on ``u_syn`` at extracellular calcium ``calcium_mM`` for a synapse of Hill
    coefficient ``k_half`` (mM): 1 at 2 mM."""
    k4, y4 = np.asarray(k_half, dtype=float) ** 4, float(calcium_mM) ** 4
    return (k4 + 16.0) / 16.0 * y4 / (k4 + y4)


def scaled_release(attrs: dict, calcium_mM: float | None, where: str) -> dict:
    """The edges' attributes with ``u_syn`` scaled for ``calcium_mM`` (unchanged without it, or
    without ``u_hill_coefficient``: logged once per edge population ``where``)."""
    if calcium_mM is None or "u_syn" not in attrs:
        return attrs
    if "u_hill_coefficient" not in attrs:
        log.warning("%s: no u_hill_coefficient, u_syn not scaled for extracellular_calcium", where)
        return attrs
    u = np.asarray(attrs["u_syn"], dtype=float) * constrained_hill(attrs["u_hill_coefficient"], calcium_mM)
    return {**attrs, "u_syn": u}
