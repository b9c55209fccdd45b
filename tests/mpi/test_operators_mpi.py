"""Operators built per rank, put together, equal the operators built on one rank.

Each rank owns the cells ``rank::size`` (Parallel.local_cells) and only their segments; it
builds every operator through the operator cache (collective). Rank 0 gathers the pieces and
compares them with a serial build of the whole geometry:
* segment/neuron (local) -> tet (global): columns of the ranks side by side;
* tet (global) -> segment/neuron (local): rows of the ranks stacked;
* segment <-> neuron: the ranks' blocks on the diagonal;
* vessel <-> tet: the full matrix on every rank.
"""

from __future__ import annotations

import textwrap

import pytest
from conftest import run_mpi_python

from multiscale_run.coupling.operators import OPERATORS

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import scipy.sparse as sp
    from multiscale_run.coupling.cache import OperatorCache
    from multiscale_run.coupling.geometry import Geometry, structured_box_mesh
    from multiscale_run.mesh import tet_geometry
    from multiscale_run.coupling.operators import OPERATORS, OperatorBuilder
    from multiscale_run.parallel import Parallel
    from multiscale_run.spaces import EndfootGeometry, SegmentGeometry, Space, TetGeometry, VesselGeometry

    cache_dir = sys.argv[1]
    parallel = Parallel()
    rng = np.random.default_rng(5)
    vertices, tets = structured_box_mesh((4, 3, 3), 5.0)
    tet_geometry = tet_geometry(vertices, tets)
    n_cells = 7
    gids = np.arange(n_cells) * 3 + 1
    per_cell = rng.integers(1, 9, n_cells)
    owner = np.repeat(np.arange(n_cells), per_cell)
    start = rng.uniform(-2, 17, (len(owner), 3))
    end = start + rng.normal(scale=4.0, size=start.shape)
    end[::5] = start[::5]  # point somata
    area = rng.uniform(1, 5, len(owner))
    volume = rng.uniform(1, 5, len(owner))
    vessels = VesselGeometry(rng.uniform(-3, 18, (9, 3)), rng.uniform(-3, 18, (9, 3)), np.ones(9))
    # 5 endfeet of 2 astrocytes (territories of 6 um) on vessels 0, 0, 3, 8, 8
    endfeet = EndfootGeometry(
        rng.uniform(0, 15, (5, 3)), np.array([0, 0, 3, 8, 8]),
        np.repeat(rng.uniform(2, 13, (2, 3)), [3, 2], axis=0), np.full(5, 6.0), 9,
    )

    def segments_of(cells):
        mine = np.flatnonzero(np.isin(owner, cells))
        local = np.searchsorted(cells, owner[mine])
        return mine, SegmentGeometry(start[mine], end[mine], area[mine], volume[mine], local, gids[cells])

    local_gids = parallel.local_cells(gids)
    local_cells = np.searchsorted(gids, local_gids)
    mine, local_segments = segments_of(local_cells)
    geometry = Geometry(local_segments, tet_geometry, vessels, endfeet)
    builder = OperatorBuilder(geometry, parallel)
    names = [n for n in OPERATORS if n != "identity"]
    for attempt in range(2):  # the second round loads every operator from the cache
        cache = OperatorCache(cache_dir, parallel)
        local = {n: cache.operator(n, geometry, builder) for n in names}
    assert cache.loaded == names, cache.built
    coverage = OperatorBuilder(geometry, parallel).coverage()
    pieces = parallel.comm.gather((mine, local_cells, local), root=0)
    if parallel.rank == 0:
        _, everything = segments_of(np.arange(n_cells))
        serial = OperatorBuilder(Geometry(everything, tet_geometry, vessels, endfeet))
        seg_order = np.concatenate([p[0] for p in pieces])
        cell_order = np.concatenate([p[1] for p in pieces])
        order = {Space.SEGMENT: seg_order, Space.NEURON: cell_order}
        expected = serial.coverage()
        assert coverage.segments == expected.segments == len(owner), (coverage, expected)
        assert coverage.segments_outside == expected.segments_outside > 0, (coverage, expected)
        assert abs(coverage.segment_length_outside_um - expected.segment_length_outside_um) < 1e-9
        assert coverage.vessels_outside == expected.vessels_outside
        print("MATCH coverage")
        for name in names:
            spec = OPERATORS[name]
            parts = [p[2][name] for p in pieces]
            if spec.src.is_global and spec.dest.is_global:
                assembled = parts[0]
                assert all((x != assembled).nnz == 0 for x in parts)
                reference = serial.build(name)
            elif spec.dest.is_global:
                assembled = sp.hstack(parts)
                reference = serial.build(name)[:, order[spec.src]]
            elif spec.src.is_global:
                assembled = sp.vstack(parts)
                reference = serial.build(name)[order[spec.dest]]
            else:
                assembled = sp.block_diag(parts)
                reference = serial.build(name)[order[spec.dest]][:, order[spec.src]]
            assert assembled.shape == reference.shape, (name, assembled.shape, reference.shape)
            difference = abs(assembled - reference).max() if reference.nnz else abs(assembled).max()
            assert difference <= 1e-14, (name, difference)
            print("MATCH", name, reference.nnz)
    """
)


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_rank_local_operators_assemble_to_the_serial_ones(tmp_path, ranks):
    script = tmp_path / "operators_mpi.py"
    script.write_text(SCRIPT)
    result = run_mpi_python(ranks, [str(script), str(tmp_path / "cache")], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    matched = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("MATCH")]
    n_operators = len([n for n in OPERATORS if n != "identity"])
    assert matched[0] == "coverage" and len(set(matched[1:])) == n_operators, result.stdout
    assert sorted((tmp_path / "cache" / "operators" / f"n{ranks}").glob("segment_to_tet.*.npz"))
    assert (
        len(list((tmp_path / "cache" / "operators" / f"n{ranks}").glob("*.rank*.npz"))) == n_operators * ranks
    )
