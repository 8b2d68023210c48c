from __future__ import annotations

from pathlib import Path

import pytest

from crashpilot import settings as st
from crashpilot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "crashpilot.toml"
    cfg.write_text('[project]\nbase_branch = "3.3.5"\n[build]\ntimeout = 10\n[reproduce]\nruns = 2\n')
    env = {"CRASHPILOT_BUILD_TIMEOUT": "20", "CRASHPILOT_REPRODUCE_RUNS": "4"}
    s = st.load(config=cfg, env=env, flags={"reproduce.runs": 7})
    assert s["project.base_branch"] == "3.3.5" and s.sources["project.base_branch"] == "file"
    assert s["build.timeout"] == 20.0 and s.sources["build.timeout"] == "env"
    assert s["reproduce.runs"] == 7 and s.sources["reproduce.runs"] == "flag"
    assert s["worker.build_slots"] == 1 and s.sources["worker.build_slots"] == "default"


def test_config_found_in_parent_folder(tmp_path: Path) -> None:
    (tmp_path / "crashpilot.toml").write_text('[project]\nname = "tc"\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    s = st.load(env={}, search_from=deep)
    assert s.config_path == (tmp_path / "crashpilot.toml").resolve()
    assert s.repo == tmp_path.resolve()
    assert s["project.name"] == "tc"


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "crashpilot.toml"
    cfg.write_text('[project]\nbase_branch = "main"\n\n[build]\ntimeout = "soon"\n')
    with pytest.raises(ConfigError, match=r"crashpilot.toml:5: build.timeout must be a number"):
        st.load(config=cfg, env={})


def test_unknown_key_and_bad_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "crashpilot.toml"
    cfg.write_text("[build]\ncomand = 'make'\n")
    with pytest.raises(ConfigError, match=r":2: unknown setting 'build.comand'"):
        st.load(config=cfg, env={})
    cfg.write_text("[build\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        st.load(config=cfg, env={})


def test_env_lists_and_bools(tmp_path: Path) -> None:
    s = st.load(env={"CRASHPILOT_PROJECT_IN_APP": "src/, modules/", "CRASHPILOT_WATCH_POLL": "yes"}, search_from=tmp_path)
    assert s["project.in_app"] == ["src/", "modules/"]
    assert s["watch.poll"] is True
    with pytest.raises(ConfigError, match="CRASHPILOT_WATCH_POLL"):
        st.load(env={"CRASHPILOT_WATCH_POLL": "maybe"}, search_from=tmp_path)


def test_home_default_is_outside_the_repo(tmp_path: Path) -> None:
    (tmp_path / "crashpilot.toml").write_text("")
    s = st.load(env={}, search_from=tmp_path)
    assert tmp_path.resolve() not in s.home.parents
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("crashpilot.db")
    s2 = st.load(env={"CRASHPILOT_HOME": str(tmp_path / "h")}, search_from=tmp_path)
    assert s2.home == (tmp_path / "h").resolve()


def test_watch_folders_with_globs(tmp_path: Path) -> None:
    cfg = tmp_path / "crashpilot.toml"
    cfg.write_text('[watch]\nfolders = ["crashes", "bin:backtrace*.log"]\nglob = "*.txt"\n')
    s = st.load(config=cfg, env={})
    assert s.watch_folders() == [(tmp_path / "crashes", "*.txt"), (tmp_path / "bin", "backtrace*.log")]


@pytest.mark.parametrize("preset", ["default", "trinitycore", "azerothcore"])
def test_presets_are_valid_config(preset: str) -> None:
    values = st.read_file(ROOT / "src" / "crashpilot" / "presets" / f"{preset}.toml")
    assert values["project.in_app"]


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for s in st.SETTINGS:
        assert s.doc.strip(), s.key
        assert f"`{s.key}`" in doc, f"{s.key} missing from docs/configuration.md (regenerate it)"
