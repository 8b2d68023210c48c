"""Machinery shared by the sanitizer parsers (asan, ubsan, tsan, msan, lsan).

Sanitizer runtimes print stacks the same way (``sanitizer_common``'s stack printer):

    #3 0x4f5c2a in Foo::bar(int) /src/foo.cc:12:7
    #4 0x7f01 in __libc_start_main (/lib/x86_64-linux-gnu/libc.so.6+0x21b96) (BuildId: 1a2b)
    #0 rep_cb reqctx.c:60 (reqctx:x86_64+0x1000026e0)            (TSan, macOS)
    #1 0x7ff7 in BaseThreadInitThunk+0x13 (C:\\Windows\\System32\\KERNEL32.DLL+0x180008363)

A file may hold several reports, of different sanitizers: ``split_reports`` cuts it at every
report banner and ``parse_any`` hands each piece to the parser of its sanitizer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

from crashpilot.errors import ParseError
from crashpilot.formats.frames import demangle_names, function_name, new_frame
from crashpilot.models import CrashReport, Frame

# Where a report starts. Group 1 names the sanitizer.
_BANNER = re.compile(
    r"(?:ERROR|WARNING): (AddressSanitizer|HWAddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer|UndefinedBehaviorSanitizer):"
)
_UBSAN_LINE = re.compile(r"(?::\d+(?::\d+)?|<unknown>): runtime error: ")
_FRAME_START = re.compile(r"\s*#(\d+)\s")
# A frame behind a log prefix ("[task 12:00:01] INFO -     #3 0x4f5c in f a.c:1"): only with an address.
_PREFIXED_FRAME = re.compile(r"[\s\]|:>-]#(\d+)\s+(?=0x[0-9a-fA-F]+\s)")
_SHARED_OBJECT = re.compile(r"^[\w.+-]+\.(?:so(?:\.\d+)*|dll|dylib|exe)$", re.IGNORECASE)
_ARCH_SUFFIX = re.compile(r":(?:x86_64h?|arm64e?|i386|aarch64)$")
_DRIVE_PATH = re.compile(r"\s([A-Za-z]:[\\/])")
_REVISION = re.compile(
    r"^[ \t]*(?:revision|build revision|commit|git revision)[ \t]*[:=][ \t]*([0-9a-f]{7,40})\b", re.I | re.M
)
_THREAD_ID = re.compile(r"\bT(\d+)\b")
_BAZEL_CWD = "/proc/self/cwd/"
_MAX_FRAME_LINE = 16384  # longer lines are not stack frames; skip them instead of scanning
_HEAD = 65536

SANITIZER_FORMAT = {
    "AddressSanitizer": "asan",
    "HWAddressSanitizer": "asan",
    "LeakSanitizer": "lsan",
    "ThreadSanitizer": "tsan",
    "MemorySanitizer": "msan",
    "UndefinedBehaviorSanitizer": "ubsan",
}


# --- frames --------------------------------------------------------------------------------------


class RawFrame(NamedTuple):
    """One parsed frame line before names are demangled (a NamedTuple: built once per frame line)."""

    number: int
    address: str | None
    function: str | None
    module: str | None
    module_offset: str | None
    file: str | None
    line: int | None
    build_id: str | None
    raw: str


def _split_location(token: str) -> tuple[str | None, int | None]:
    """``/src/a.c:12:7`` -> (``/src/a.c``, 12); ``<null>:0`` -> (None, None); no line -> (path, None)."""
    path = token
    numbers: list[str] = []
    for _ in range(2):
        head, sep, tail = path.rpartition(":")
        if sep and tail.isdigit() and head:
            numbers.append(tail)
            path = head
        else:
            break
    if path in ("<null>", "<unknown>", "??"):
        return None, None
    line = int(numbers[-1]) if numbers else None
    return path, line


def _drop_offset(function: str) -> str:
    head, _, tail = function.rpartition("+")
    tail = tail.strip()
    if head.strip() and tail.lower().startswith("0x") and _HEX_DIGITS.fullmatch(tail[2:]):
        return head.rstrip()
    return function


_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")
_SOURCE_EXT = re.compile(r"\.[A-Za-z][A-Za-z0-9+]{0,4}$")


def _looks_like_path(token: str) -> bool:
    """A location printed without a line number: ``/src/a.c``, ``lib\\x.cpp``, ``foo.cc``."""
    if token.startswith("operator") or any(c in token for c in "()[]<>{}"):
        return False
    return "/" in token or "\\" in token or bool(_SOURCE_EXT.search(token))


def parse_frame_line(line: str) -> RawFrame | None:
    """Parse ``#N [0xADDR] [in] func [location] [(module+0xoff)] [(BuildId: x)]``; None if not a frame."""
    if len(line) > _MAX_FRAME_LINE:
        return None
    m = _FRAME_START.match(line)
    if not m:
        m = _PREFIXED_FRAME.search(line, 0, 240)
        if not m:
            return None
    parts = _parse_frame_rest(line[m.end() :].strip())
    return RawFrame(int(m.group(1)), *parts, line.rstrip())


_FrameParts = tuple[str | None, str | None, str | None, str | None, str | None, int | None, str | None]


@lru_cache(maxsize=16384)
def _parse_frame_rest(rest: str) -> _FrameParts:
    """(address, function, module, module_offset, file, line, build_id) of a frame line's text after ``#N``.

    Cached: the same frames repeat across the access, free, allocation and thread stacks.
    """
    address = None
    if rest.startswith("0x"):
        addr, _, rest = rest.partition(" ")
        address = "0x" + (addr[2:].lower().lstrip("0") or "0")
        rest = rest.strip()
    if rest.startswith("in "):
        rest = rest[3:].strip()
    build_id = None
    if rest.endswith(")") and "(BuildId: " in rest:
        i = rest.rfind("(BuildId: ")
        build_id = rest[i + 10 : -1].strip() or None
        rest = rest[:i].rstrip()
    module = module_offset = None
    if rest.endswith(")"):
        i = rest.rfind("(")
        inner = rest[i + 1 : -1] if i >= 0 else ""
        head, plus, off = inner.rpartition("+")
        if plus and head and off.lower().startswith("0x") and " " not in off:
            module = _ARCH_SUFFIX.sub("", head.strip())
            module_offset = off.lower()
            rest = rest[:i].rstrip()
    file = None
    lineno = None
    if rest:
        # A Windows path may contain blanks: it starts at the first drive letter after the last ')'.
        start = rest.rfind(")") + 1
        dm = _DRIVE_PATH.search(rest, start)
        if dm:
            loc = rest[dm.start(1) :]
            file, lineno = _split_location(loc)
            rest = rest[: dm.start()].rstrip()
        else:
            head, _, last = rest.rpartition(" ")
            if head.strip() or last in ("<null>",) or last.startswith("<null>:"):
                f, ln = _split_location(last)
                if ln is not None or f is None or (_looks_like_path(last) and head.strip()):
                    file, lineno = f, ln
                    rest = head.rstrip()
    function: str | None = rest.strip() or None
    if function in ("<null>", "<unknown>", "??"):
        function = None
    if function and module is None and _SHARED_OBJECT.match(function):
        module, function = function, None  # "#1 0x7fe7 in libglib-2.0.so.0": a module, not a function
    if function and "+" in function:
        function = _drop_offset(function)  # "BaseThreadInitThunk+0x13": drop the offset
    if file and file.startswith(_BAZEL_CWD):
        file = file[len(_BAZEL_CWD) :]  # Bazel's execroot: the rest is workspace-relative
    return address, function, module, module_offset, file, lineno, build_id


@lru_cache(maxsize=16384)
def clean_function(name: str) -> str | None:
    """A frame's function without its argument list (cached: the same frames repeat across stacks)."""
    if "(" not in name:
        return name.strip() or None
    return function_name(name)


def to_frames(raws: Sequence[RawFrame], names: dict[str, str]) -> list[Frame]:
    """Frames from parsed lines; consecutive frames sharing a pc are inlined into the last of them."""
    out: list[Frame] = []
    for i, r in enumerate(raws):
        fn = names.get(r.function, r.function) if r.function else None
        inlined = bool(r.address) and i + 1 < len(raws) and raws[i + 1].address == r.address
        out.append(
            new_frame(
                function=clean_function(fn) if fn else None,
                module=r.module,
                file=r.file,
                line=r.line,
                address=r.address,
                module_offset=r.module_offset,
                raw=r.raw.strip(),
                inlined=inlined,
            )
        )
    return out


# --- blocks: runs of frame lines with the line that introduced them --------------------------------


@dataclass
class Block:
    header: str  # the last non-frame, non-blank line before the run ("" at the start)
    frames: list[RawFrame] = field(default_factory=list)


@dataclass
class Segment:
    """One report's lines, its stacks and the demangled names of all its frames."""

    lines: list[str]
    blocks: list[Block]
    names: dict[str, str]
    pre_lines: list[str]

    def frames(self, block: Block) -> list[Frame]:
        return to_frames(block.frames, self.names)

    def frames_json(self, block: Block) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.frames(block)]

    @cached_property
    def text(self) -> str:
        return "\n".join(self.lines)

    def find(self, prefix: str) -> str | None:
        """The first line that has ``prefix`` near its start (after ``==PID==`` or a log prefix), from it on."""
        text = self.text  # one str.find over the segment, not one per line
        pos = text.find(prefix)
        while pos >= 0:
            start = text.rfind("\n", 0, pos) + 1
            end = text.find("\n", pos)
            if pos + len(prefix) - start <= 300:  # as line.find(prefix, 0, 300)
                return text[pos : end if end >= 0 else len(text)].strip()
            if end < 0:
                return None
            pos = text.find(prefix, end + 1)
        return None

    def line_starting(self, prefix: str) -> str | None:
        """The first line (stripped) that starts with ``prefix`` after blanks, found by str.find."""
        text = self.text
        pos = text.find(prefix)
        while pos >= 0:
            start = text.rfind("\n", 0, pos) + 1
            if not text[start:pos].strip():
                end = text.find("\n", pos)
                return text[start : end if end >= 0 else len(text)].strip()
            pos = text.find(prefix, pos + 1)
        return None

    def summary(self) -> str | None:
        return self.find("SUMMARY: ")

    def build_ids(self) -> dict[str, str]:
        return {r.module: r.build_id for b in self.blocks for r in b.frames if r.module and r.build_id}


_PID = re.compile(r"^\s*==\d+==\s?")


def banner_rest(line: str, marker: str, limit: int = 4096) -> str:
    """The text after ``marker`` on a banner line, cut to ``limit`` characters."""
    return strip_pid(line[: limit * 2]).split(marker, 1)[-1].strip()[:limit]


def strip_pid(line: str) -> str:
    """``==123==ERROR: ...`` -> ``ERROR: ...`` (also strips surrounding blanks)."""
    if "==" in line[:24]:
        line = _PID.sub("", line, count=1)
    return line.strip()


def make_segment(lines: list[str], pre_lines: list[str]) -> Segment:
    blocks: list[Block] = []
    last = ""  # the last non-blank, non-frame line; its header form is made only when a block starts
    current: Block | None = None
    for line in lines:
        raw = parse_frame_line(line) if line.find("#", 0, 240) >= 0 else None
        if raw is not None:
            if current is None:
                current = Block(strip_pid(last.strip()) if last else "")
                blocks.append(current)
            current.frames.append(raw)
            continue
        current = None
        if line and not line.isspace():
            last = line
    mangled = [r.function for b in blocks for r in b.frames if r.function and r.function.startswith("_Z")]
    names = demangle_names(mangled) if mangled else {}
    return Segment(lines, blocks, names, pre_lines)


# --- splitting a file into reports -----------------------------------------------------------------


def banner_of(line: str) -> str | None:
    """The format name whose report starts at ``line`` (None when it starts none)."""
    if "Sanitizer" in line:
        m = _BANNER.search(line)
        if m:
            return SANITIZER_FORMAT[m.group(1)]
    if ": runtime error: " in line and _UBSAN_LINE.search(line):
        return "ubsan"
    return None


_PRE_LINE = re.compile(
    r"^\s*(?:==\d+==)?(?:Uninitialized bytes in |[A-Za-z]+Sanitizer:DEADLYSIGNAL|[A-Z]+SAN:DEADLYSIGNAL|=+$)"
)


def _lines_holding(text: str, markers: tuple[str, ...]) -> list[int]:
    """Indices (as in ``text.split("\\n")``) of the lines that contain any of ``markers``, in order."""
    found: set[int] = set()
    for marker in markers:
        index, counted = 0, 0
        pos = text.find(marker)
        while pos >= 0:
            index += text.count("\n", counted, pos)
            counted = pos
            found.add(index)
            end = text.find("\n", pos)
            if end < 0:
                break
            pos = text.find(marker, end + 1)
    return sorted(found)


def split_reports(text: str) -> list[tuple[str, Segment]]:
    """Cut ``text`` at every sanitizer banner: (format, segment) per report, in order."""
    lines = text.split("\n")
    starts: list[tuple[int, str]] = []
    for i in _lines_holding(text, ("Sanitizer", ": runtime error: ")):  # the only lines banner_of reads
        line = lines[i]
        fmt = banner_of(line)
        if fmt is None:
            continue
        if fmt == "ubsan" and starts and starts[-1][1] == "ubsan" and "SUMMARY" in line:
            continue
        starts.append((i, fmt))
    out: list[tuple[str, Segment]] = []
    for k, (i, fmt) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        pre: list[str] = []
        j = i - 1
        floor = starts[k - 1][0] if k else -1
        while j > floor and j >= i - 3 and _PRE_LINE.match(lines[j]):
            pre.insert(0, lines[j].strip())
            j -= 1
        seg_lines = lines[i:end]
        # A trailing pre-line belongs to the next report, not to this one.
        while k + 1 < len(starts) and seg_lines and _PRE_LINE.match(seg_lines[-1]):
            seg_lines.pop()
        out.append((fmt, make_segment(seg_lines, pre)))
    return out


def parse_any(text: str) -> list[CrashReport]:
    """Every sanitizer report in ``text``, each read by the parser of its own sanitizer."""
    from crashpilot.formats import asan, lsan, msan, tsan, ubsan

    readers: dict[str, Callable[[Segment], CrashReport]] = {
        "asan": asan.read_segment,
        "lsan": lsan.read_segment,
        "tsan": tsan.read_segment,
        "msan": msan.read_segment,
        "ubsan": ubsan.read_segment,
    }
    revision = find_revision(text)
    reports = []
    for fmt, seg in split_reports(text):
        report = readers[fmt](seg)
        if revision and not report.revision:
            report = report.with_(revision=revision)
        reports.append(report)
    if not reports:
        raise ParseError("no sanitizer report found")
    return reports


def find_revision(text: str) -> str | None:
    head = text[:_HEAD]
    # Every match holds "revision" or "commit" in some case. In ASCII text (str.isascii() is a
    # flag, not a scan) only ASCII letters match those under re.IGNORECASE, so the lowered text
    # rules the slow ^-anchored scan out; other text gets the scan.
    if head.isascii():
        low = head.lower()
        if "revision" not in low and "commit" not in low:
            return None
    m = _REVISION.search(head)
    return m.group(1) if m else None


# --- helpers for the per-sanitizer readers ----------------------------------------------------------


def thread_index(text: str) -> int | None:
    """``thread T3`` -> 3, ``main thread`` -> 0, else None."""
    if "main thread" in text:
        return 0
    m = _THREAD_ID.search(text)
    return int(m.group(1)) if m else None


def frames_dicts(frames: Iterable[Frame]) -> list[dict[str, Any]]:
    return [f.to_json() for f in frames]


def sniff_banner(text: str, needle: str, score: int) -> int:
    """``score`` when ``needle`` (a banner text) occurs in ``text``, else 0. A plain substring test."""
    return score if needle in text else 0


def needs_symbols(frames: Sequence[Frame]) -> bool:
    """True when one of the top frames outside system libraries is only an address / module offset."""
    from crashpilot.formats.inapp import is_runtime

    return any(f.function is None and f.file is None and not is_runtime(f) for f in frames[:5])


def finish_extra(seg: Segment, frames: Sequence[Frame], extra: dict[str, Any]) -> dict[str, Any]:
    """Facts every sanitizer report may carry: SUMMARY line, missing symbols, module build ids."""
    summary = seg.summary()
    if summary:
        extra["summary"] = summary
    if needs_symbols(frames):
        extra["needs_symbols"] = True
    ids = seg.build_ids()
    if ids:
        extra["build_ids"] = ids
    return extra
