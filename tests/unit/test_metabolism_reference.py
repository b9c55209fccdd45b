"""Standalone J15 against the authors' MATLAB reference stimulation (spec §8.2)."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale_run.metabolism.model import ModelOptions
from multiscale_run.metabolism.solver import J15Batch
from multiscale_run.metabolism.stimulus import Stimulus


@pytest.mark.slow
def test_matlab_reference_stimulation_20s():
    """Rat, CBF off, LONG off, t1 = 0, 20-s stimulus, N_e = 240, from the §2 state (about 2–5 min:
    one HH cell through ~16 000 steps). Extrema sampled every 10 ms."""
    batch = J15Batch(1, ModelOptions.standalone(Stimulus()), rtol=1e-6, atol=1e-9, max_step_s=0.01)
    min_atp = min_nadhm = np.inf
    max_na = -np.inf
    for k in range(1, 2001):
        batch.advance(k * 0.01)
        min_atp = min(min_atp, batch.get("ATP_n")[0])
        min_nadhm = min(min_nadhm, batch.get("NADHm_n")[0])
        max_na = max(max_na, batch.get("Na_n")[0])
    assert min_atp == pytest.approx(2.0903, abs=3e-4)
    assert max_na == pytest.approx(11.941, abs=3e-3)
    assert min_nadhm == pytest.approx(0.11179, abs=3e-5)
    matlab_20s = {"Na_n": 9.86454, "ATP_n": 2.16607, "Ca_n": 5.66369e-5, "NADHm_n": 0.115788}
    for name, value in matlab_20s.items():
        assert batch.get(name)[0] == pytest.approx(value, rel=5e-4), name
    assert batch.get("V")[0] == pytest.approx(-64.877, abs=0.2)
