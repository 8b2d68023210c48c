"""Pieces shared by the Linux-side parsers (gdb, assertions, glibc backtraces, crashdetect).

Signals, build revisions, assertion messages and the frame-line shapes several formats print.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from crashpilot.formats.frames import demangle_names, function_name, hex_address, new_frame, strip_return_type
from crashpilot.models import CrashReport, Frame, Thread

HEAD = 65536  # sniff() looks at this many characters

SIGNAL_NUMBERS = {
    1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
    8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
    14: "SIGALRM", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS",
}

_SIGNAL_NAME = re.compile(r"\b(SIG[A-Z]{2,6})\b")


def signal_name(text: str) -> str | None:
    """``SIGSEGV`` / ``11`` / ``signal 6`` -> the signal's name."""
    m = _SIGNAL_NAME.search(text)
    if m:
        return m.group(1)
    m = re.search(r"\b(\d{1,2})\b", text)
    if m:
        return SIGNAL_NUMBERS.get(int(m.group(1)))
    return None


# --- build revisions ---------------------------------------------------------------------------

_REVISION = re.compile(
    r"\b(?:TrinityCore|AzerothCore|SkyFire|SkyFireEmu|CMaNGOS|MaNGOS|SunwellCore|FirelandsCore|"
    r"OregonCore|WarheadCore)\s+rev\.\s+([0-9a-fA-F]{7,40})(\+?)",
)
_GENERIC_REVISION = re.compile(r"^\s*(?:Revision|Git revision|Build revision|Commit):\s+([0-9a-fA-F]{7,40})(\+?)\b", re.M)


def find_revision(text: str) -> tuple[str | None, bool]:
    """(git revision, dirty) from a server's version banner, or (None, False)."""
    # The literal checks skip the regex scans of a long log that cannot match (same result).
    m = _REVISION.search(text) if "rev." in text else None
    if m is None and ("evision:" in text or "Commit:" in text):
        m = _GENERIC_REVISION.search(text)
    if not m:
        return None, False
    return m.group(1).lower(), bool(m.group(2))


# --- assertion messages ------------------------------------------------------------------------


@dataclass(frozen=True)
class Assertion:
    """An assertion / fatal-error message found in a crash text."""

    kind: str  # "assertion" or "abort"
    message: str | None
    location: Frame | None
    style: str  # trinity / azerothcore / glibc / haproxy / icinga / terminate
    start: int  # offset of the message in the text
    end: int  # offset just after the message block
    extra: tuple[tuple[str, str], ...] = ()


# Every message regex below is applied to one line (at most MAX_LINE characters) that contains
# the message's marker text, found with str.find: no regex ever runs across the whole input.
MAX_LINE = 4000

# TrinityCore (and forks): "<file>:<line> in <function> ASSERTION FAILED:\n  <expr>\n  <more>"
_TRINITY = re.compile(
    r"(?<!\S)(?P<file>(?:[A-Za-z]:)?[^\s:]+):(?P<line>\d+) in (?P<func>.+?) "
    r"(?P<what>ASSERTION FAILED|FATAL ERROR|ABORTED|ERROR):[ \t]*(?P<inline>.*)$"
)
# AzerothCore: a '#---#' framed block with '>> ASSERTION FAILED' and '# Location' lines
_AC_HEAD = re.compile(r"^\s*>>\s*(?P<what>ASSERTION FAILED|FATAL ERROR|ABORTED|ERROR)\s*$")
_AC_FIELD = re.compile(r"^\s*#\s*(Location|Function|Condition|Message|Debug info):?\s*'?(.*?)'?\s*$")
# glibc assert(): "prog: file.c:12: func: Assertion `expr' failed."
_GLIBC = re.compile(
    r"^(?:(?P<prog>[^\s:][^:]*): )?(?P<file>[^\s:][^:]*):(?P<line>\d+): "
    r"(?:(?P<func>.+?): )?Assertion [`'\u2018](?P<expr>.*?)['\u2019]? failed\.?\s*$"
)
# HAProxy BUG_ON(): FATAL: bug condition "<expr>" matched at src/log.c:745 [message]
_HAPROXY = re.compile(r"FATAL: bug condition \"(?P<expr>.*)\" matched at (?P<file>[^\s:]+):(?P<line>\d+)")
# Icinga-style ASSERT: "<file>:<line>: assertion failed: <expr>"
_ICINGA = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+): assertion failed: (?P<expr>.*)$")
# std::terminate
_TERMINATE = re.compile(
    r"^terminate called (?:after throwing an instance of '(?P<type>[^']*)'|(?P<other>without an active exception|recursively))"
)
_WHAT = re.compile(r"^\s*what\(\):\s*(?P<what>.*)$")

ASSERT_HINTS = ("Assertion failed: (", "ASSERTION FAILED", "Assertion", "bug condition", "assertion failed", "terminate called",
                "FATAL ERROR", "ABORTED")


def lines_with(text: str, marker: str, limit: int = 5, pos: int = 0) -> list[tuple[int, int, str]]:
    """(start, end, line) of the first ``limit`` lines at or after ``pos`` containing ``marker``.

    Long lines are cut to MAX_LINE characters either side of the marker.
    """
    out: list[tuple[int, int, str]] = []
    while len(out) < limit:
        i = text.find(marker, pos)
        if i < 0:
            break
        start = text.rfind("\n", 0, i) + 1
        end = text.find("\n", i)
        if end < 0:
            end = len(text)
        lo = max(start, i - MAX_LINE)
        hi = min(end, i + MAX_LINE)
        out.append((lo, hi, text[lo:hi]))
        pos = end + 1
    return out


def _unescape_markdown(path: str) -> str:
    """GitHub/Redmine escapes ``_`` as ``\\_`` in pasted logs; undo it in POSIX-looking paths."""
    if "\\_" in path and "/" in path:
        return path.replace("\\_", "_")
    return path


def _clean_func(func: str | None) -> str | None:
    if not func:
        return None
    func = func.strip()
    if " " in func.split("(", 1)[0] or "(" in func:
        return strip_return_type(func) or None
    return func or None


def _location(file: str | None, line: str | None, func: str | None) -> Frame:
    return Frame(
        function=_clean_func(func),
        file=_unescape_markdown(file.strip()) if file else None,
        line=int(line) if line and line.isdigit() else None,
        in_app=True,
    )


def _next_text_line(text: str, pos: int) -> tuple[str | None, int]:
    """The next non-blank line at or after ``pos`` (looking at most 5 lines ahead) and the offset after it."""
    n = len(text)
    for _ in range(5):
        if pos >= n:
            break
        end = text.find("\n", pos)
        if end < 0:
            end = n
        line = text[pos:end]
        if line.strip():
            return line[:MAX_LINE], min(end + 1, n)
        pos = end + 1
    return None, pos


def _trinity(text: str, pos: int = 0) -> Assertion | None:
    best: Assertion | None = None
    for marker in ("ASSERTION FAILED:", "FATAL ERROR:", "ABORTED:"):
        for start, end, line in lines_with(text, marker, 3, pos):
            if best is not None and start > best.start:
                break
            m = _TRINITY.search(line)
            if not m:
                continue
            msg, stop = (m.group("inline").strip() or None), end
            if not msg:
                nxt, after = _next_text_line(text, end + 1)
                if nxt is not None and not looks_like_stack_line(nxt):
                    msg, stop = nxt.strip(), after
            kind = "assertion" if m.group("what") == "ASSERTION FAILED" else "abort"
            loc = _location(m.group("file"), m.group("line"), m.group("func"))
            best = Assertion(kind, msg, loc, "trinity", start + m.start(), stop)
            break
    return best


def _azerothcore(text: str, pos: int = 0) -> Assertion | None:
    best: Assertion | None = None
    for marker in (">> ASSERTION FAILED", ">> FATAL ERROR", ">> ABORTED"):
        for start, end, line in lines_with(text, marker, 3, pos):
            if best is not None and start > best.start:
                break
            m = _AC_HEAD.match(line)
            if not m:
                continue
            fields: dict[str, str] = {}
            at = stop = end + 1
            for raw in text[at: at + 8000].split("\n")[:20]:
                fm = _AC_FIELD.match(raw[:MAX_LINE])
                if fm:
                    fields[fm.group(1).lower()] = fm.group(2)
                    stop = at + len(raw) + 1
                elif raw.strip().startswith("#-"):
                    break
                at += len(raw) + 1
            lm = re.match(r"(.*):(\d+)$", fields.get("location", ""))
            if not (lm or fields.get("function")):
                continue
            kind = "assertion" if m.group("what") == "ASSERTION FAILED" else "abort"
            location = _location(lm.group(1) if lm else None, lm.group(2) if lm else None, fields.get("function"))
            msg = fields.get("condition") or fields.get("message")
            extra = (("assert_message", fields["message"]),) if "message" in fields and "condition" in fields else ()
            best = Assertion(kind, msg or None, location, "azerothcore", start, min(stop, len(text)), extra)
            break
    return best


def _glibc(text: str, pos: int = 0) -> Assertion | None:
    for start, end, line in lines_with(text, "Assertion ", 3, pos):
        m = _GLIBC.match(line)
        if m:
            extra = (("program", m.group("prog")),) if m.group("prog") else ()
            loc = _location(m.group("file"), m.group("line"), m.group("func"))
            return Assertion("assertion", m.group("expr").strip() or None, loc, "glibc", start, end, extra)
    return None


def _haproxy(text: str, pos: int = 0) -> Assertion | None:
    for start, end, line in lines_with(text, "FATAL: bug condition", 2, pos):
        m = _HAPROXY.search(line)
        if m:
            loc = _location(m.group("file"), m.group("line"), None)
            return Assertion("assertion", m.group("expr"), loc, "haproxy", start, end)
    return None


def _icinga(text: str, pos: int = 0) -> Assertion | None:
    for start, end, line in lines_with(text, ": assertion failed: ", 2, pos):
        m = _ICINGA.match(line)
        if m:
            loc = _location(m.group("file"), m.group("line"), None)
            return Assertion("assertion", m.group("expr").strip() or None, loc, "icinga", start, end)
    return None


def _terminate(text: str, pos: int = 0) -> Assertion | None:
    for start, end, line in lines_with(text, "terminate called", 2, pos):
        m = _TERMINATE.match(line)
        if not m:
            continue
        msg: str | None = m.group("other")
        stop = end
        nxt, after = _next_text_line(text, end + 1)
        wm = _WHAT.match(nxt) if nxt else None
        if wm:
            msg, stop = wm.group("what").strip(), after
        extra = (("exception_type", m.group("type")),) if m.group("type") else ()
        return Assertion("abort", msg, None, "terminate", start, stop, extra)
    return None


# macOS libc assert(): "Assertion failed: (expr), function f, file x.c, line 12."
_MACOS = re.compile(r"Assertion failed: \((?P<expr>.*)\), function (?P<func>[^,]+), file (?P<file>[^,]+), line (?P<line>\d+)")


def _macos(text: str, pos: int = 0) -> Assertion | None:
    for start, end, line in lines_with(text, "Assertion failed: (", 2, pos):
        m = _MACOS.search(line)
        if m:
            loc = _location(m.group("file"), m.group("line"), m.group("func"))
            return Assertion("assertion", m.group("expr").strip() or None, loc, "macos", start + m.start(), end)
    return None


STYLES: tuple[Callable[[str, int], Assertion | None], ...] = (
    _trinity, _azerothcore, _glibc, _haproxy, _icinga, _terminate, _macos,
)


# Text every marker of a style holds (in STYLES order): a style whose texts are all absent finds
# nothing, so one str.find per shared text replaces the styles' own scans for each marker.
_STYLE_NEEDS: tuple[tuple[str, ...], ...] = (
    ("ASSERTION FAILED", "FATAL ERROR", "ABORTED"),  # trinity
    ("ASSERTION FAILED", "FATAL ERROR", "ABORTED"),  # azerothcore
    ("ssertion",),  # glibc "Assertion "
    ("FATAL: bug condition",),  # haproxy
    ("ssertion",),  # icinga ": assertion failed: "
    ("terminate called",),  # terminate
    ("ssertion",),  # macos "Assertion failed: ("
)


# Every literal a style needs: an assertion message holds at least one of them (formats._prescan).
ASSERTION_MARKERS: tuple[str, ...] = tuple(dict.fromkeys(n for needs in _STYLE_NEEDS for n in needs))


def _live_styles(text: str, pos: int) -> list[int]:
    """Indices of the STYLES that may find something at or after ``pos``."""
    present: dict[str, bool] = {}
    live = []
    for i, needs in enumerate(_STYLE_NEEDS):
        for need in needs:
            if need not in present:
                present[need] = text.find(need, pos) >= 0
            if present[need]:
                live.append(i)
                break
    return live


def find_assertion(text: str, pos: int = 0) -> Assertion | None:
    """The first assertion / fatal-error / terminate message at or after ``pos`` (None when there is none)."""
    found = [a for a in (STYLES[i](text, pos) for i in _live_styles(text, pos)) if a is not None]
    if not found:
        return None
    return min(found, key=lambda a: a.start)


def find_assertions(text: str, limit: int = 1000) -> list[Assertion]:
    """Every assertion message in ``text``, in order (each style's search only moves forward)."""
    may_find = _live_styles(text, 0)
    pending: dict[int, Assertion | None] = {
        i: style(text, 0) if i in may_find else None for i, style in enumerate(STYLES)
    }
    out: list[Assertion] = []
    while len(out) < limit:
        live = [(a.start, i) for i, a in pending.items() if a is not None]
        if not live:
            break
        _, i = min(live)
        got = pending[i]
        assert got is not None
        out.append(got)
        for j, a in list(pending.items()):
            if a is not None and a.start < got.end:
                pending[j] = STYLES[j](text, max(got.end, a.start + 1))
    return out


def looks_like_stack_line(line: str) -> bool:
    s = line.strip()
    return s.startswith(("#", "[0x")) or bool(BACKTRACE_SYMBOLS.match(s))


# --- frame lines several formats print --------------------------------------------------------

# backtrace_symbols(): "/lib/libc.so.6(__fortify_fail+0x37)[0x7fa27dff1c37]", "su[0x403563]",
# "./prog(+0x2e8f) [0x55...]", "./prog(_ZN3Foo3barEv+0x1a) [0x...]"
BACKTRACE_SYMBOLS = re.compile(
    r"^(?P<module>[^\s()\[\]][^()\[\]\n]{0,1000}?)(?:\((?P<sym>[^()\n]{0,4000}?)?(?:\+(?P<off>0x[0-9a-fA-F]+))?\))?"
    r"\s?\[(?P<addr>0x[0-9a-fA-F]+)\]\s*$"
)


def backtrace_symbols_frame(line: str) -> Frame | None:
    """A Frame from one ``backtrace_symbols()`` line (symbol still mangled), or None."""
    m = BACKTRACE_SYMBOLS.match(line.strip())
    if not m:
        return None
    sym = m.group("sym") or None
    off = m.group("off")
    return Frame(
        function=sym,
        module=m.group("module").strip(),
        address=hex_address(m.group("addr")),
        module_offset=hex_address(off) if off and not sym else None,
        raw=line.strip(),
    )


# Sanitizer-style frame: "#4 0x550d27 in Func /src/x.c:860:5", "#0 0x7f in libc.so.6",
# "#1 0x7f in abort (/lib/x86_64-linux-gnu/libc.so.6+0x37019)"
SANITIZER_FRAME = re.compile(
    r"^\s*#(?P<n>\d+)\s+(?P<addr>0x[0-9a-fA-F]+)\s+(?:in\s+(?P<rest>[^\n]*))?$"
)
_SAN_MODULE = re.compile(r"\s*\((?P<module>[^()\n]+?)\+(?P<off>0x[0-9a-fA-F]+)\)(?:\s*\(BuildId: [0-9a-f]+\))?$")
_SAN_FILE = re.compile(r"\s+(?P<file>[^\s]+?):(?P<line>\d+)(?::(?P<col>\d+))?$")


def sanitizer_frame(line: str) -> Frame | None:
    m = SANITIZER_FRAME.match(line)
    if not m:
        return None
    rest = (m.group("rest") or "").strip()
    addr = hex_address(m.group("addr"))
    module = off = file = None
    lineno: int | None = None
    mm = _SAN_MODULE.search(rest)
    if mm:
        module, off = mm.group("module"), mm.group("off")
        rest = rest[: mm.start()]
    else:
        fm = _SAN_FILE.search(rest)
        if fm:
            file, lineno = fm.group("file"), int(fm.group("line"))
            rest = rest[: fm.start()]
    rest = rest.strip()
    func: str | None = rest or None
    if func and not mm and not file and " " not in func and re.search(r"\.(so(\.\d+)*|dylib|dll|exe)$|^/", func):
        module, func = func, None  # "in libc.so.6": a module without symbol
    return new_frame(
        function=function_name(func) if func else None,
        module=module,
        file=file,
        line=lineno,
        address=addr,
        module_offset=hex_address(off) if off else None,
        raw=line.strip(),
    )


def demangle_frames(frames: list[Frame]) -> list[Frame]:
    """Demangle ``_Z`` function names of all frames with one c++filt call, dropping signatures."""
    names = [f.function for f in frames if f.function and f.function.startswith("_Z")]
    if not names:
        return frames
    plain = demangle_names(names)
    out = []
    for f in frames:
        if f.function and f.function in plain:
            f = f.with_(function=function_name(plain[f.function]))
        out.append(f)
    return out


def demangle_reports(reports: list[CrashReport]) -> list[CrashReport]:
    """Demangle the ``_Z`` names of all reports' frames with one c++filt call for the whole input."""
    names = [f.function for r in reports for f in r.frames if f.function and f.function.startswith("_Z")]
    if not names:
        return reports
    plain = demangle_names(names)
    out = []
    for r in reports:
        if any(f.function and f.function.startswith("_Z") for f in r.frames):
            frames = tuple(
                f.with_(function=function_name(plain[f.function])) if f.function and f.function in plain else f
                for f in r.frames
            )
            r = r.with_(crashing_thread=Thread(r.crashing_thread.index, r.crashing_thread.name, frames))
        out.append(r)
    return out
