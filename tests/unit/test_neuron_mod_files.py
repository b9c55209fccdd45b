"""mod_files: content keys, copies for editing, and a clear error for a broken .mod file."""

from __future__ import annotations

import pytest

from multiscale_run import mod_files
from multiscale_run.errors import UserError


def test_copy_and_key_follow_content(tmp_path):
    target = mod_files.copy_mod_files(tmp_path)
    shipped = {p.name for p in mod_files.mod_files(mod_files.shipped_mod_dir())}
    assert {p.name for p in target.glob("*.mod")} == shipped
    assert mod_files.content_key(target) == mod_files.content_key(mod_files.shipped_mod_dir())
    assert "msr_nakpump" in mod_files.mechanism_names(target)
    pump = target / "msr_nakpump.mod"
    pump.write_text(pump.read_text().replace("k_pump = 4.0e-6", "k_pump = 5.0e-6"))
    assert mod_files.content_key(target) != mod_files.content_key(mod_files.shipped_mod_dir())


def test_broken_mod_file_is_a_user_error(tmp_path):
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "bad.mod").write_text("NEURON { SUFFIX bad }\nBREAKPOINT { this is not nmodl }\n")
    with pytest.raises(UserError, match="nrnivmodl failed"):
        mod_files.compile_mechanisms(tmp_path / "mod", tmp_path / "cache")
    assert not list((tmp_path / "cache" / "mechanisms").glob("*/x86_64"))


def test_empty_folder(tmp_path):
    with pytest.raises(UserError, match=r"no \.mod files"):
        mod_files.content_key(tmp_path)
