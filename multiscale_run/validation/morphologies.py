"""The morphologies of a node population as MorphIO reads them, for ``msr check`` (section counts
per node, without NEURON)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from multiscale_run.errors import UserError


class Morphologies:
    """Each node's morphology (MorphIO), read once per file."""

    def __init__(self, pop):
        props = pop.properties
        self.pop = pop
        self.comps = {
            "morphologies_dir": Path(props["morphologies_dir"]) if props.get("morphologies_dir") else None,
            "alternate": {k: Path(v) for k, v in (props.get("alternate_morphologies") or {}).items()},
        }
        self._read: dict[str, object] = {}

    def of(self, node: int):
        """(path, MorphIO morphology) of ``node``; None without one or when it cannot be found (the
        morphology probe names it)."""
        import morphio

        from multiscale_run.simulators.neuron.circuit import SonataCells

        name = self.pop.get("morphology", np.array([node]))[0]
        if name is None:
            return None
        try:
            path = SonataCells.morphology_path(str(name), self.comps)
        except UserError:
            return None
        if str(path) not in self._read:
            self._read[str(path)] = morphio.Morphology(str(path))
        return path, self._read[str(path)]

    def section_count(self, node: int) -> int | None:
        """Soma + neurite sections of ``node`` (SONATA's section ids 0..count-1)."""
        found = self.of(node)
        return None if found is None else 1 + len(found[1].sections)

    def count_of_type(self, node: int, swc_type: int) -> int | None:
        """Neurite sections of SWC type ``swc_type`` (2 axon, 3 basal, 4 apical) of ``node``."""
        found = self.of(node)
        return None if found is None else sum(int(s.type) == swc_type for s in found[1].sections)
