"""mod_files: content keys, the user's mechanisms cache, copies for editing, and clear errors for
a broken .mod file and an unusable cache."""

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
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [".lock"]  # no half build left


def test_the_cache_is_the_users_unless_the_environment_names_one(monkeypatch, tmp_path):
    monkeypatch.delenv("MSR_MECHANISMS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mod_files.mechanisms_cache() == tmp_path / "xdg" / "multiscale-run" / "mechanisms"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mod_files.mechanisms_cache() == tmp_path / "home" / ".cache" / "multiscale-run" / "mechanisms"
    monkeypatch.setenv("MSR_MECHANISMS_CACHE", str(tmp_path / "mine"))
    shipped = mod_files.shipped_mod_dir()
    assert mod_files.build_dir(shipped) == tmp_path / "mine" / mod_files.content_key(shipped)


def test_an_unusable_cache_names_the_variable(monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("MSR_MECHANISMS_CACHE", str(tmp_path / "a-file" / "mechanisms"))
    with pytest.raises(UserError, match="set MSR_MECHANISMS_CACHE to a writable folder"):
        mod_files.compile_mechanisms(mod_files.shipped_mod_dir())


def test_empty_folder(tmp_path):
    with pytest.raises(UserError, match=r"no \.mod files"):
        mod_files.content_key(tmp_path)
