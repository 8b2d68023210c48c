"""clean_env and the output cap, without starting processes."""

from __future__ import annotations

import pytest

from crashpilot.errors import CommandFailed
from crashpilot.proc import Result, _Capped, clean_env, is_secret_name

BASE = {
    "PATH": "/usr/bin",
    "HOME": "/home/u",
    "LANG": "C.UTF-8",
    "LC_ALL": "C",
    "TMPDIR": "/tmp",
    "CC": "gcc",
    "CXXFLAGS": "-O2",
    "CCACHE_DIR": "/cache",
    "CCACHE_SECRET": "nope",
    "ANTHROPIC_API_KEY": "sk-ant-xyz",
    "OPENAI_API_KEY": "sk-xyz",
    "GITHUB_TOKEN": "ghp_x",
    "GH_TOKEN": "ghp_y",
    "GITLAB_TOKEN": "glpat",
    "CRASHPILOT_DATABASE_URL": "postgresql://u:p@h/db",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "MY_SERVICE_KEY": "k",
    "DB_PASSWORD": "p",
    "SOME_TOKEN_FILE": "/t",
    "RANDOM_THING": "x",
    "EDITOR": "vim",
}


def test_clean_env_keeps_build_variables_and_drops_the_rest() -> None:
    env = clean_env(BASE)
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TMPDIR": "/tmp",
        "CC": "gcc",
        "CXXFLAGS": "-O2",
        "CCACHE_DIR": "/cache",
    }


@pytest.mark.parametrize(
    "name",
    [
        "ANTHROPIC_API_KEY",
        "OPENAI_BASE_URL",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITLAB_TOKEN",
        "CRASHPILOT_MODEL",
        "AWS_SECRET_ACCESS_KEY",
        "MY_SERVICE_KEY",
        "db_password",
        "SSH_AUTH_SOCK",
        "CCACHE_SECRET",
        "X_API_KEY_FILE",
    ],
)
def test_secret_names_never_pass_even_when_allowed(name: str) -> None:
    assert is_secret_name(name)
    assert clean_env({name: "v"}, allow=["*"]) == {}


def test_custom_allow_and_extra() -> None:
    env = clean_env(BASE, allow=["PATH", "RANDOM_*"], extra={"CCACHE_BASEDIR": "/w"})
    assert env == {"PATH": "/usr/bin", "RANDOM_THING": "x", "CCACHE_BASEDIR": "/w"}


def test_extra_refuses_a_secret() -> None:
    with pytest.raises(ValueError, match="GITHUB_TOKEN"):
        clean_env({}, extra={"GITHUB_TOKEN": "x"})


def test_capped_keeps_head_and_tail() -> None:
    cap = _Capped(10)
    for piece in (b"0123", b"456789", b"abcdef"):
        cap.feed(piece)
    text = cap.text()
    assert text.startswith("01234")
    assert text.endswith("bcdef")
    assert "6 bytes omitted" in text
    assert cap.dropped == 6


def test_capped_small_output_untouched() -> None:
    cap = _Capped(100)
    cap.feed(b"hello ")
    cap.feed(b"world")
    assert cap.text() == "hello world"
    assert cap.dropped == 0


def test_result_check_and_output() -> None:
    good = Result(["x"], 0, None, "out\n", "err", 0.1, False)
    assert good.check() is good
    assert good.output == "out\nerr"
    bad = Result(["x"], -11, 11, "", "boom", 0.1, False)
    with pytest.raises(CommandFailed) as info:
        bad.check()
    assert info.value.returncode == -11
    assert "boom" in info.value.output
    slow = Result(["x"], -15, 15, "", "", 5.0, True)
    with pytest.raises(CommandFailed, match="timed out"):
        slow.check()
