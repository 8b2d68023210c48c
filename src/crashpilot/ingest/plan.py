"""Deciding what one input becomes: parsed reports to group, or quarantine rows with a reason.

Nothing here touches the database: ``plan_text`` and ``plan_dump`` turn bytes (or a dump on
disk) into ``Row`` objects that intake then stores in one transaction.

A Wheaty ``.txt`` whose text has no usable stack (no function names) is read from its companion
``.dmp`` instead when the symbolized dump names functions (else the text's report stays). A report without a revision of its own
takes the one its file name carries (``<hash>[+]_worldserver.exe_[date].txt``; ``+`` sets
``extra["dirty_build"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashpilot.errors import CrashpilotError
from crashpilot.formats import parse_bytes
from crashpilot.formats.text import looks_binary
from crashpilot.formats.wheaty import revision_from_filename
from crashpilot.ingest.dumps import DEFAULT_SYMBOLS, SymbolOptions, has_usable_stack, symbolize_dump
from crashpilot.ingest.limits import DEFAULT_LIMITS, Kind, Limits
from crashpilot.models import CrashReport

log = logging.getLogger(__name__)

ParseFn = Callable[..., list[CrashReport]]
HEAD = 8192


@dataclass(frozen=True)
class IngestOptions:
    """How inputs are parsed, limited and symbolized (shared by every intake path)."""

    limits: Limits = DEFAULT_LIMITS
    repo: str | Path | None = None
    in_app_paths: tuple[str, ...] = ()
    parse: ParseFn = field(default=parse_bytes)
    symbols: SymbolOptions = DEFAULT_SYMBOLS


@dataclass(frozen=True)
class Row:
    """One crash_reports row to write: a parsed report, or a quarantine with its reason."""

    format: str | None
    report: CrashReport | None = None
    reason: str | None = None
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def grouped(self) -> bool:
        return self.reason is None and self.report is not None


def too_large(size: int, kind: Kind, limits: Limits) -> str:
    return f"too large: {size} bytes is over the {kind} limit of {limits.max_bytes(kind)} bytes"


def dump_format(head: bytes) -> str:
    return "core" if head.startswith(b"\x7fELF") else "minidump"


def one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def plan_text(
    data: bytes,
    kind: Kind,
    options: IngestOptions,
    filename: str | None,
    *,
    dump_path: Path | None = None,
    companion: Path | None = None,
) -> list[Row]:
    """The rows for ``data``. ``dump_path`` is where the bytes are on disk when ``kind`` is a
    dump; ``companion`` is the ``.dmp`` beside a text report."""
    if not data.strip():
        return [Row(format=None, reason="empty input")]
    if len(data) > options.limits.max_bytes(kind):
        return [Row(format=None, reason=too_large(len(data), kind, options.limits))]
    if kind == "dump":
        if dump_path is None:  # pragma: no cover - intake always stores the bytes first
            return [Row(format=dump_format(data[:HEAD]), reason="dump: not stored on disk")]
        return plan_dump(dump_path, filename, options, head=data[:HEAD])
    if looks_binary(data):
        return [Row(format=None, reason="binary data, not a crash text")]
    try:
        reports = options.parse(data, repo=options.repo, in_app_paths=options.in_app_paths)
    except Exception as exc:  # a parser bug must never stop intake: quarantine and go on
        log.exception("parser failed on %s", filename or "input")
        return [Row(format=None, reason=one_line(f"parser error: {exc!r}"))]
    if not reports:
        return [Row(format=None, reason="no crash report found")]
    rows = report_rows(reports, filename)
    if companion is not None and not any(r.grouped and has_usable_stack(r.report) for r in rows):  # type: ignore[arg-type]
        revision = next((r.revision for r in rows if r.revision), None)
        from_dump = plan_dump(companion, filename, options, revision=revision)
        if any(r.grouped and has_usable_stack(r.report) for r in from_dump):  # type: ignore[arg-type]
            note = {"read_from": "companion dump: the text report has no usable stack"}
            return [Row(r.format, r.report, r.reason, r.revision, {**r.extra, **note}) for r in from_dump]
    return rows


def plan_dump(
    path: Path,
    filename: str | None,
    options: IngestOptions,
    *,
    revision: str | None = None,
    head: bytes | None = None,
) -> list[Row]:
    """The rows for the minidump / core file at ``path``, symbolized per revision."""
    name_rev, _ = name_revision(filename)
    revision = revision or name_rev
    try:
        reports = symbolize_dump(
            path,
            revision=revision,
            symbols=options.symbols,
            repo=options.repo,
            in_app_paths=options.in_app_paths,
        )
    except CrashpilotError as exc:
        return [Row(format=_format_of(path, head), reason=one_line(f"dump: {exc}"))]
    except Exception as exc:  # a symbolizer bug must never stop intake either
        log.exception("symbolizing %s failed", filename or path.name)
        return [Row(format=_format_of(path, head), reason=one_line(f"symbolizer error: {exc!r}"))]
    if not reports:
        return [Row(format=_format_of(path, head), reason="no crash report found in the dump")]
    return report_rows(reports, filename, revision=revision)


def report_rows(
    reports: list[CrashReport], filename: str | None, *, revision: str | None = None
) -> list[Row]:
    """Rows for parsed reports: unusable ones quarantined, the others with their revision (the
    report's own, else ``revision``, else the file name's)."""
    name_rev, dirty = name_revision(filename)
    fallback = revision or name_rev
    rows = []
    for report in reports:
        if unusable(report):
            rows.append(
                Row(format=report.format, report=report, reason=one_line(report.error or "unparseable"))
            )
            continue
        if not report.revision and fallback:
            report = report.with_(revision=fallback)
        if dirty and report.revision == name_rev and "dirty_build" not in report.extra:
            report = report.with_(extra={**report.extra, "dirty_build": True})
        rows.append(Row(format=report.format, report=report, revision=report.revision))
    return rows


def unusable(report: CrashReport) -> bool:
    return (report.format == "other" and report.error is not None) or not report.signature


def name_revision(filename: str | None) -> tuple[str | None, bool]:
    """(revision, dirty) from a TrinityCore crash file name; (None, False) for other names."""
    if not filename:
        return None, False
    try:
        return revision_from_filename(filename)
    except Exception:
        log.exception("revision_from_filename failed")
        return None, False


def _format_of(path: Path, head: bytes | None) -> str:
    if head is None:
        try:
            with path.open("rb") as fh:
                head = fh.read(4)
        except OSError:
            head = b""
    return dump_format(head)
