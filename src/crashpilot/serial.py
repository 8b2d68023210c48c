"""Rebuild ``Frame`` / ``CrashReport`` objects from the JSON stored in ``crash_reports.parsed``.

Stored JSON is what ``CrashReport.to_json`` wrote plus intake's own keys; it is read
defensively (a key of the wrong type reads as missing), since it may come from an older version.
Reports stored before ``to_json`` wrote ``assert_location`` lack it: there, a first app frame that
is none of the stack's frames can only have come from the assertion message, so it is read back as
the assert location.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crashpilot.models import CrashReport, Frame, Thread


def _str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    return value if isinstance(value, str) else None


def _int(d: Mapping[str, Any], key: str) -> int | None:
    value = d.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def frame_from_json(d: Mapping[str, Any]) -> Frame:
    return Frame(
        function=_str(d, "function"),
        module=_str(d, "module"),
        file=_str(d, "file"),
        line=_int(d, "line"),
        address=_str(d, "address"),
        module_offset=_str(d, "module_offset"),
        in_app=d.get("in_app") is True,
    )


def thread_from_json(d: Mapping[str, Any]) -> Thread:
    frames = d.get("frames")
    return Thread(
        index=_int(d, "index"),
        name=_str(d, "name"),
        frames=tuple(frame_from_json(f) for f in frames if isinstance(f, Mapping))
        if isinstance(frames, list)
        else (),
    )


def _same_place(a: Frame, b: Frame) -> bool:
    return a.function == b.function and a.file == b.file and a.line == b.line


def report_from_json(d: Mapping[str, Any]) -> CrashReport:
    """The ``CrashReport`` a stored ``parsed`` dict describes (its signature as stored)."""
    thread_d = d.get("crashing_thread")
    thread = thread_from_json(thread_d) if isinstance(thread_d, Mapping) else Thread()
    first_d = d.get("first_app_frame")
    first = frame_from_json(first_d) if isinstance(first_d, Mapping) else None
    assert_d = d.get("assert_location")
    assert_location = frame_from_json(assert_d) if isinstance(assert_d, Mapping) else None
    if assert_location is None and first is not None and first.function:
        if not any(_same_place(first, f) for f in thread.frames):
            assert_location = first
    extra = d.get("extra")
    return CrashReport(
        format=_str(d, "format") or "other",
        crash_kind=_str(d, "crash_kind"),
        exception_code=_str(d, "exception_code"),
        message=_str(d, "message"),
        revision=_str(d, "revision"),
        crashing_thread=thread,
        assert_location=assert_location,
        first_app_frame=first,
        signature=_str(d, "signature") or "",
        extra=dict(extra) if isinstance(extra, Mapping) else {},
        error=_str(d, "error"),
    )
