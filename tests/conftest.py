"""Shared fixtures: a clean environment and a temporary HOME for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
DATA = Path(__file__).resolve().parent / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        help="rewrite tests/data/crashes/**/*.expected.json from the current parsers",
    )


@pytest.fixture(autouse=True)
def _close_log_files() -> Iterator[None]:
    """A test that configured crashpilot's logging (the CLI in-process) leaves no log file open."""
    yield
    import logging

    from crashpilot.log import close_handlers

    close_handlers(logging.getLogger("crashpilot"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No developer setting or secret leaks into a test; HOME and CRASHPILOT_HOME are fresh."""
    for name in list(os.environ):
        if name.startswith(("CRASHPILOT_", "ANTHROPIC_", "OPENAI_", "GITHUB_TOKEN", "GH_TOKEN")):
            if name != "CRASHPILOT_TEST_PG":
                monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CRASHPILOT_HOME", str(home / "crashpilot-home"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.invalid")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
