"""Reading provider-neutral transcript files for the replay server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crashpilot.backends.models import Exchange, ToolCall
from crashpilot.backends.models import anthropic_wire as aw
from crashpilot.backends.models import openai_wire as ow
from crashpilot.errors import ConfigError
from crashpilot.replay import Failure, Turn, load_transcript, transcript_from_exchanges


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    return path


def test_turns_and_failures(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "turns": [
                {"text": "Reading.", "tool_calls": [{"name": "read_file", "arguments": {"path": "a.c"}}]},
                {"fail": {"status": 529}},
                {"fail": {"delay": 0.5, "garbage": True}},
                {"text": "Done.", "usage": {"input_tokens": 7, "output_tokens": 3}},
            ]
        },
    )
    steps = load_transcript(path)
    assert steps == [
        Turn("Reading.", (ToolCall("", "read_file", {"path": "a.c"}),)),
        Failure(status=529),
        Failure(status=500, delay=0.5, garbage=True),
        Turn("Done.", input_tokens=7, output_tokens=3),
    ]


def test_a_bare_list_is_a_transcript(tmp_path: Path) -> None:
    assert load_transcript(write(tmp_path, [{"text": "hi"}])) == [Turn("hi")]


@pytest.mark.parametrize("data", [{"turns": "no"}, [1, 2], {"turns": [{"tool_calls": [{"arguments": {}}]}]}])
def test_bad_transcripts_name_the_file(tmp_path: Path, data: object) -> None:
    with pytest.raises(ConfigError, match="t.json"):
        load_transcript(write(tmp_path, data))


def test_unreadable_transcript(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read transcript"):
        load_transcript(tmp_path / "t.json")


def _exchange(provider: str, response: dict[str, object] | None) -> Exchange:
    return Exchange(provider, "m", {}, response, 1, 1, 0.1, 0.0, 1)  # type: ignore[arg-type]


def test_transcript_from_exchanges_keeps_successful_replies_of_either_provider() -> None:
    call = ToolCall("toolu_1", "grep", {"pattern": "x"})
    exchanges = [
        _exchange("anthropic", None),  # a failed try is not a turn
        _exchange("anthropic", aw.reply_to_wire("m1", "m", "looking", [call], 1, 1)),
        _exchange("openai", ow.reply_to_wire("c1", "m", "found it", [], 1, 1, created=0)),
    ]
    assert transcript_from_exchanges(exchanges) == {
        "turns": [
            {"text": "looking", "tool_calls": [{"name": "grep", "arguments": {"pattern": "x"}}]},
            {"text": "found it"},
        ]
    }


def test_exchange_to_json_is_serializable() -> None:
    exchange = _exchange("openai", ow.reply_to_wire("c1", "m", "hi", [], 2, 3, created=0))
    data = json.loads(json.dumps(exchange.to_json()))
    assert data["provider"] == "openai" and data["response"]["usage"]["completion_tokens"] == 3
    assert data["attempt"] == 1 and data["error"] is None
