"""Plain data passed between modules: frames, threads, crash reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Frame:
    """One stack frame as a report shows it (function without argument list)."""

    function: str | None = None
    module: str | None = None
    file: str | None = None
    line: int | None = None
    address: str | None = None
    module_offset: str | None = None
    in_app: bool = False
    # Text the report printed for this frame (kept for display and re-parsing).
    raw: str | None = None
    inlined: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "module": self.module,
            "file": self.file,
            "line": self.line,
            "address": self.address,
            "module_offset": self.module_offset,
            "in_app": self.in_app,
        }

    def with_(self, **changes: Any) -> Frame:
        return replace(self, **changes)


@dataclass(frozen=True)
class Thread:
    index: int | None = None
    name: str | None = None
    frames: tuple[Frame, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "frames": [f.to_json() for f in self.frames],
        }


@dataclass(frozen=True)
class CrashReport:
    """What a parser reads out of one crash report.

    ``assert_location`` is the place an assertion message names (it becomes the first app frame
    when the printed stack starts below it). ``extra`` holds format-specific facts (needs symbols,
    dirty build, a data race's second stack, ASan allocation/free stacks ...).
    """

    format: str
    crash_kind: str | None = None
    exception_code: str | None = None
    message: str | None = None
    revision: str | None = None
    crashing_thread: Thread = field(default_factory=Thread)
    threads: tuple[Thread, ...] = ()
    assert_location: Frame | None = None
    first_app_frame: Frame | None = None
    signature: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def frames(self) -> tuple[Frame, ...]:
        return self.crashing_thread.frames

    def with_(self, **changes: Any) -> CrashReport:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": self.format,
            "crash_kind": self.crash_kind,
            "exception_code": self.exception_code,
            "message": self.message,
            "revision": self.revision,
            "crashing_thread": self.crashing_thread.to_json(),
            "first_app_frame": self.first_app_frame.to_json() if self.first_app_frame else None,
            "signature": self.signature,
        }
        if self.assert_location is not None:
            out["assert_location"] = self.assert_location.to_json()
        if self.extra:
            out["extra"] = _jsonable(self.extra)
        if self.error:
            out["error"] = self.error
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (Frame, Thread, CrashReport)):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return _jsonable(asdict(value))
    return value
