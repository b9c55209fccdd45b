"""The Julia model text stays in step with the Python model; the backend runs where Julia is."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from multiscale_run.metabolism.parameters import ALL_PARAMETER_NAMES, STATE_NAMES

JL = Path(__file__).resolve().parents[2] / "julia" / "j15.jl"


def _symbols(block_name: str) -> list[str]:
    text = JL.read_text()
    block = re.search(rf"const {block_name} = \((.*?)\n\)", text, re.S)
    assert block, block_name
    body = re.sub(r"#.*", "", block.group(1))
    return re.findall(r":(\w+)", body)


def test_julia_state_list_matches_python():
    assert tuple(_symbols("STATE_NAMES")) == STATE_NAMES


def test_julia_parameter_list_matches_python():
    assert tuple(_symbols("PARAMETER_NAMES")) == ALL_PARAMETER_NAMES


def test_julia_backend_matches_python():
    try:
        from multiscale_run.metabolism.julia_backend import julia_main

        julia_main()
    except Exception as exc:
        pytest.skip(f"Julia is not available: {exc}")
    from multiscale_run.metabolism.julia_backend import JuliaJ15Batch
    from multiscale_run.metabolism.model import ModelOptions
    from multiscale_run.metabolism.solver import J15Batch

    drives = {"v_stim_n": np.array([0.1, 0.9])}
    a = JuliaJ15Batch(2, ModelOptions.coupled(), drives, rtol=1e-9, atol=1e-12)
    b = J15Batch(2, ModelOptions.coupled(), drives, rtol=1e-9, atol=1e-12)
    a.advance(0.5)
    b.advance(0.5)
    np.testing.assert_allclose(a.y, b.y, rtol=1e-6)
