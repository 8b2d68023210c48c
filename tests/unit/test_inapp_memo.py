"""In-app decisions are memoized per string; the memo must follow the frame lists in use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crashpilot.formats.inapp import is_runtime, mark_in_app
from crashpilot.models import Frame
from crashpilot.signature import rules


@pytest.fixture
def builtin_lists() -> Iterator[None]:
    rules.use_extra_lists(None)
    yield
    rules.use_extra_lists(None)


def test_memo_follows_a_change_of_lists(tmp_path: Path, builtin_lists: None) -> None:
    frame = Frame(function="MyGame::Engine::Tick", file="src/engine.cpp")
    assert not is_runtime(frame)  # now memoized
    (tmp_path / "runtime_functions.txt").write_text("^MyGame::Engine::\n")
    rules.use_extra_lists(tmp_path)
    assert is_runtime(frame)
    assert mark_in_app([frame])[0].in_app is False
    rules.use_extra_lists(None)
    assert not is_runtime(frame) and mark_in_app([frame])[0].in_app is True


def test_marking_is_the_same_every_time() -> None:
    frames = [
        Frame(function="Player::Update", file="/src/game/Player.cpp", line=10),
        Frame(function="__libc_start_main", module="libc.so.6"),
        Frame(address="0x1234"),
        Frame(function="operator new", file="/usr/include/c++/12/new"),
    ]
    first = mark_in_app(frames)
    assert [f.in_app for f in first] == [True, False, False, False]
    assert mark_in_app(first) == first and mark_in_app(frames) == first
