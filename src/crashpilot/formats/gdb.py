"""gdb backtraces: ``bt``, ``bt full``, ``thread apply all bt [full]``, crash scripts, live sessions.

Reads the frames of every thread, picks the crashing one (the thread named by the signal line,
gdb's current thread, the thread whose stack holds the signal handler / abort, else the first),
takes the crash kind from the signal, and unwraps assertion machinery (glibc ``__assert_fail``,
TrinityCore / AzerothCore ``Assert`` in ``Errors.cpp``) to crash kind ``assertion`` with the
caller as ``assert_location``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from crashpilot.errors import ParseError
from crashpilot.formats._linux_common import HEAD, find_assertion, find_revision, signal_name
from crashpilot.formats._scan import prefix_search
from crashpilot.formats.frames import hex_address, new_frame, split_call
from crashpilot.models import CrashReport, Frame, Thread

NAME = "gdb"

_FRAME = re.compile(r"^#(?P<n>\d+)\s+(?:(?P<addr>0x[0-9a-fA-F]+) in )?(?P<rest>\S.*)$")
_THREAD = re.compile(r"^Thread (?P<n>\d+) \((?P<what>.*)\):\s*$")
_THREAD_M = re.compile(_THREAD.pattern, re.M)
_SIGNAL = re.compile(
    r"^(?:Thread (?P<tn>\d+)(?: \"(?P<tname>[^\"]*)\")? received signal|Program received signal|"
    r"Program terminated with signal) (?P<sig>SIG[A-Z]+|\d+)(?:, (?P<desc>[^.\n]*))?"
)
# First characters of the lines _read and _split_reports act on: frames, thread headers, signal
# lines ("Thread N ... received signal", "Program ..."), "[Current thread", "(gdb)", "--- DEBUG".
_SIGNAL_FIRST = frozenset("TP")
_READ_FIRST = frozenset("#TP[(-")
_CURRENT = re.compile(r"^\[Current thread is (?P<n>\d+)")
_SWITCHING = re.compile(r"^\[Switching to Thread 0x[0-9a-fA-F]+ \(LWP (?P<lwp>\d+)\)\]")
_LWP = re.compile(r"\(LWP (\d+)\)")
_TNAME = re.compile(r"\"([^\"]*)\"\)?$")
_STOP = re.compile(r"^(?:0x[0-9a-fA-F]+ in )?[A-Za-z_~(<{][^\n]* \([^\n]*\)(?: at \S[^\n]*:\d+| from \S+)?\s*$")
_SNIFF_FRAME = re.compile(
    r"^#\d\s\s\S|^#\d+\s+0x[0-9a-fA-F]+ in [^\n]*\)(?: at [^\n:]+:\d+| from \S+)$|^#\d+\s+0x[0-9a-fA-F]+ in \?\? \(\)"
    r"|^#\d+\s+<signal handler called>",
    re.M,
)

_ABORT_FUNCS = frozenset({
    "raise", "abort", "gsignal", "__GI_raise", "__GI_abort", "pthread_kill", "__pthread_kill",
    "__pthread_kill_implementation", "__pthread_kill_internal", "__restore_rt", "<signal handler called>",
    "__libc_message", "__fortify_fail", "__stack_chk_fail", "__chk_fail", "malloc_printerr",
})
_GLIBC_ASSERT = re.compile(r"^(?:__GI_)?__assert(?:_fail|_fail_base|_perror_fail|_rtn)?$")
_PROJECT_ASSERT = re.compile(r"^(?:Trinity|Acore|MaNGOS|Warhead)::(?:Assert|Fatal|Error|Abort|AbortHandler)$")
_ASSERT_MSG_ARG = re.compile(r"\b(?:message|msg|expr|condition)=0x[0-9a-fA-F]+ \"((?:[^\"\\]|\\.){0,2000})\"")


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = (
    "received signal",
    "terminated with signal",
    "(gdb) ",
    "<signal handler called>",
    "--- DEBUG:",
    "[New Thread ",
    "[Thread debugging using",
    "[Switching to Thread",
    "\nThread ",
    "\n#",
)
MARKERS_WITHIN = HEAD  # sniff() reads only the first HEAD characters


def sniff(text: str) -> int:
    head = text[:HEAD]
    score = 0
    # (the shared words first: one scan rules out several markers)
    signal = "signal" in head
    if signal and ("received signal" in head or "terminated with signal" in head):
        score += 50
    if "(gdb) " in head:
        score += 30
    if signal and "<signal handler called>" in head:
        score += 30
    thread = "Thread" in head
    if "--- DEBUG:" in head or (
        thread and ("[New Thread " in head or "[Thread debugging using" in head or "[Switching to Thread" in head)
    ):
        score += 30
    # (prefix_search: a ^-anchored regex scan of 64 KB is slow)
    if thread and prefix_search(_THREAD_M, head, "Thread "):
        score += 30
    frames = prefix_search(_SNIFF_FRAME, head, "#") is not None
    if frames:
        score += 40
    if not score:
        return 0
    return min(95, score) if frames or score >= 80 else min(40, score)


@dataclass
class _Thread:
    index: int | None
    name: str | None = None
    lwp: str | None = None
    frames: list[Frame] = field(default_factory=list)


@dataclass
class _Report:
    start: int
    signal: str | None = None
    signal_desc: str | None = None
    signal_thread: int | None = None
    signal_thread_name: str | None = None
    current_thread: int | None = None
    switch_lwp: str | None = None
    stop_frame: Frame | None = None
    loose: list[_Thread] = field(default_factory=list)  # stacks printed outside a "Thread N (...)" header
    threads: list[_Thread] = field(default_factory=list)

    def has_frames(self) -> bool:
        return any(t.frames for t in self.loose) or any(t.frames for t in self.threads)


def parse_frame_text(index: int, addr: str | None, rest: str, raw: str) -> Frame:
    """One gdb frame from its parts: ``0xADDR in func (args) at file:line`` / ``from lib``."""
    rest = rest.strip()
    if rest.startswith("<signal handler called>"):
        return Frame(function="<signal handler called>", address=hex_address(addr), raw=raw)
    file = module = None
    line: int | None = None
    at = rest.rfind(" at ")
    if at > 0:
        loc = rest[at + 4:].strip()
        colon = loc.rfind(":")
        if colon > 0 and loc[colon + 1:].isdigit():
            file, line, rest = loc[:colon], int(loc[colon + 1:]), rest[:at]
    if file is None:
        frm = rest.rfind(" from ")
        if frm > 0 and rest[:frm].rstrip().endswith(")"):
            module, rest = rest[frm + 6:].strip() or None, rest[:frm]
    name = split_call(rest.strip())[0].strip()
    return new_frame(
        function=None if name in ("??", "") else name,
        module=module,
        file=file,
        line=line,
        address=hex_address(addr),
        raw=raw,
        inlined=addr is None and index > 0 and file is not None,
    )


def _balanced(text: str) -> bool:
    return text.count("(") <= text.count(")")


def _split_reports(lines: list[str]) -> list[tuple[int, int]]:
    """Line ranges of the reports in a text: a new report starts at a signal line after frames."""
    bounds = [0]
    seen_frames = False
    for i, line in enumerate(lines):
        if line.startswith("#") and _FRAME.match(line):
            seen_frames = True
        elif seen_frames and line[:1] in _SIGNAL_FIRST and _SIGNAL.match(line):
            bounds.append(i)
            seen_frames = False
    bounds.append(len(lines))
    return [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]


def _read(lines: list[str], lo: int, hi: int) -> _Report:
    rep = _Report(start=lo)
    current: _Thread | None = None
    i = lo
    while i < hi:
        line = lines[i]
        i += 1
        if line[:1] not in _READ_FIRST:  # a log line: none of the branches below can take it
            continue
        if line.startswith("#"):
            m = _FRAME.match(line)
            if m:
                rest = m.group("rest")
                raw = line
                joined = 0
                while not _balanced(rest) and i < hi and joined < 10 and lines[i][:1] in (" ", "\t"):
                    rest += " " + lines[i].strip()
                    raw += "\n" + lines[i]
                    i += 1
                    joined += 1
                n = int(m.group("n"))
                if current is None or (n == 0 and current.frames):
                    current = _Thread(None)
                    rep.loose.append(current)
                current.frames.append(parse_frame_text(n, m.group("addr"), rest, raw.strip()))
                continue
        if line.startswith("Thread "):
            t = _THREAD.match(line)
            if t:
                what = t.group("what")
                lwp = _LWP.search(what)
                name = _TNAME.search(what)
                current = _Thread(int(t.group("n")), name.group(1) if name else None, lwp.group(1) if lwp else None)
                rep.threads.append(current)
                continue
        s = _SIGNAL.match(line) if line[:1] in _SIGNAL_FIRST else None
        if s:
            rep.signal = signal_name(s.group("sig"))
            rep.signal_desc = s.group("desc")
            if s.group("tn"):
                rep.signal_thread = int(s.group("tn"))
                rep.signal_thread_name = s.group("tname")
            # gdb prints where the thread stopped on the next line (not a frame of any bt)
            if i < hi and rep.stop_frame is None and _STOP.match(lines[i]):
                st = lines[i].strip()
                addr = st.split(" in ", 1)[0] if st.startswith("0x") else None
                body = st.split(" in ", 1)[1] if addr else st
                rep.stop_frame = parse_frame_text(0, addr, body, st)
            current = None
            continue
        if line.startswith("["):
            c = _CURRENT.match(line)
            if c:
                rep.current_thread = int(c.group("n"))
                continue
            w = _SWITCHING.match(line)
            if w and not rep.has_frames():
                rep.switch_lwp = w.group("lwp")
                continue
        if line.startswith("(gdb)") or line.startswith("--- DEBUG"):
            current = None
    return rep


def _has(frames: list[Frame], names: frozenset[str], limit: int = 20) -> bool:
    return any(f.function in names for f in frames[:limit])


def _pick(rep: _Report) -> _Thread | None:
    by_index = {t.index: t for t in rep.threads if t.frames}
    for wanted in (rep.signal_thread, rep.current_thread):
        if wanted is not None and wanted in by_index:
            return by_index[wanted]
    loose = [t for t in rep.loose if t.frames]
    if loose:
        t = max(loose, key=lambda x: len(x.frames))  # a core's lone "#0" stop line, then the full bt
        t.index = rep.signal_thread if rep.signal_thread is not None else rep.current_thread
        if t.index is not None and t.index in by_index:
            t.name = by_index[t.index].name
        return t
    if rep.switch_lwp:
        for t in rep.threads:
            if t.lwp == rep.switch_lwp and t.frames:
                return t
    for t in rep.threads:
        if _has(t.frames, _ABORT_FUNCS) or any(f.function and _GLIBC_ASSERT.match(f.function) for f in t.frames[:20]):
            return t
    for t in rep.threads:
        if t.frames:
            return t
    return None


def _is_project_assert(f: Frame) -> bool:
    base = (f.file or "").replace("\\", "/").rsplit("/", 1)[-1]
    return bool(f.function) and (base in ("Errors.cpp", "Errors.h") or bool(_PROJECT_ASSERT.match(f.function or "")))


def _unwrap_assert(frames: list[Frame]) -> tuple[str, Frame, str | None] | None:
    """(kind, caller frame, message) when the stack starts in assertion machinery."""
    last = -1
    kind = "assertion"
    message: str | None = None
    for i, f in enumerate(frames[:25]):
        fn = f.function or ""
        if _GLIBC_ASSERT.match(fn):
            last, kind = i, "assertion"
        elif _is_project_assert(f):
            last = i
            kind = "abort" if fn.rsplit("::", 1)[-1] in ("Abort", "Fatal", "AbortHandler") else "assertion"
            m = _ASSERT_MSG_ARG.search(f.raw or "")
            if m:
                message = m.group(1)
        elif fn in _ABORT_FUNCS or not fn or (f.module and "libc" in f.module):
            continue
        else:
            break  # the first frame of ordinary code
    if last < 0:
        return None
    for f in frames[last + 1:]:
        if f.function and f.function not in _ABORT_FUNCS and not _GLIBC_ASSERT.match(f.function):
            return kind, Frame(function=f.function, file=f.file, line=f.line, in_app=True), message
    return None


def _build(rep: _Report, text: str) -> CrashReport | None:
    thread = _pick(rep)
    if thread is None and rep.stop_frame is not None:
        thread = _Thread(rep.signal_thread, rep.signal_thread_name, frames=[rep.stop_frame])
    if thread is None:
        return None
    frames = thread.frames
    kind = rep.signal
    extra: dict[str, object] = {}
    if rep.signal:
        extra["signal"] = rep.signal
    if rep.signal_thread_name and not thread.name:
        thread.name = rep.signal_thread_name
    if thread.name:
        extra["thread_name"] = thread.name
    message = rep.signal_desc
    location: Frame | None = None
    unwrapped = _unwrap_assert(frames)
    if unwrapped:
        kind, location, msg = unwrapped
        message = msg or message
    assertion = find_assertion(text)
    if assertion:
        kind = assertion.kind
        message = assertion.message or message
        if assertion.location is not None:
            loc = assertion.location
            if not loc.function and location is not None:
                loc = loc.with_(function=location.function)
            location = loc
        for k, v in assertion.extra:
            extra[k] = v
    if kind is None and _has(frames, _ABORT_FUNCS - {"<signal handler called>"}, 6):
        kind = "SIGABRT"
    revision, dirty = find_revision(text)
    if dirty:
        extra["dirty_build"] = True
    if any(f.function is None and f.address for f in frames) and not any(f.file for f in frames):
        extra["needs_symbols"] = True
    others = tuple(
        Thread(t.index, t.name, tuple(t.frames)) for t in rep.threads if t is not thread and t.frames
    )
    return CrashReport(
        format=NAME,
        crash_kind=kind,
        message=message,
        revision=revision,
        crashing_thread=Thread(thread.index, thread.name, tuple(frames)),
        threads=others,
        assert_location=location,
        extra=extra,
    )


def parse(text: str) -> list[CrashReport]:
    lines = text.split("\n")
    reports = []
    for lo, hi in _split_reports(lines):
        rep = _read(lines, lo, hi)
        built = _build(rep, text if (lo, hi) == (0, len(lines)) else "\n".join(lines[lo:hi]))
        if built is not None:
            reports.append(built)
    if not reports:
        raise ParseError("no gdb backtrace frames found")
    return reports
