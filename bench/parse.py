"""Parse throughput per format, through ``parse_bytes`` (what intake calls).

Samples are real reports: the golden files (tests/data/crashes/<format>/) and the shared corpus
(../shared/corpus/crashes/, format named by each .json). Real reports arrive inside server logs
and with every thread and local variable, so each sample is also grown to typical sizes (5 to
50 KB) with content of its own kind: server log lines around a sanitizer/gdb/assert report,
more local variables in a Wheaty log, more idle threads in a stackwalker's machine output. A grown
sample is used only when it parses to the same format and signature as the original, so the
padding never changes what is measured. A console capture hard-wrapped at 80 columns (cdb) gets
its padding wrapped at the same width, as the console wrapped every line it printed.

The 6 MB case is a real Wheaty fixture whose locals section is padded to 6 MB (TrinityCore writes
logs that large), parsed once, timed.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from crashpilot.formats import parse_bytes
from crashpilot.formats.cdb import unwrap

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "crashes"
CORPUS = ROOT.parent / "shared" / "corpus" / "crashes"
FORMATS = (
    "gdb",
    "asan",
    "ubsan",
    "tsan",
    "msan",
    "lsan",
    "wheaty",
    "cdb_analyze",
    "minidump_stackwalk",
    "assert",
)
SIZES_KB = (5, 10, 20, 35, 50)
WHEATY_BIG = GOLDEN / "wheaty" / "tc_x64_relwithdebinfo_crlf.txt"


def base_samples() -> dict[str, list[bytes]]:
    """format -> real reports of that format (golden files, then the shared corpus)."""
    out: dict[str, list[bytes]] = {f: [] for f in FORMATS}
    for fmt in FORMATS:
        for path in sorted((GOLDEN / fmt).glob("*.txt")):
            out[fmt].append(path.read_bytes())
    if CORPUS.is_dir():
        for meta in sorted(CORPUS.glob("*.json")):
            fmt = json.loads(meta.read_text()).get("format")
            text = meta.with_suffix(".txt")
            if fmt in out and text.is_file():
                out[fmt].append(text.read_bytes())
    return out


def _log_lines(rng: random.Random, n_bytes: int) -> str:
    """Server log lines as worldserver prints them around a crash."""
    what = [
        "Player {n} (guid {g}) logged in from 10.0.{a}.{b}",
        "Map::Update: map {m} instance {g} updated in {d} ms",
        "SmartScript: creature entry {g} event {a} has no target",
        "WORLD: Received CMSG_CAST_SPELL from player {n}, spell {g}",
        "Battleground {m}: player {n} joined the queue",
        "DB: query 'SELECT guid, data FROM character_inventory WHERE owner = {g}' took {d} ms",
    ]
    out: list[str] = []
    size = 0
    while size < n_bytes:
        line = f"2025-10-30 17:{rng.randrange(60):02d}:{rng.randrange(60):02d} INFO " + rng.choice(
            what
        ).format(
            n=f"Char{rng.randrange(10**5)}",
            g=rng.randrange(10**7),
            a=rng.randrange(256),
            b=rng.randrange(256),
            m=rng.randrange(1000),
            d=rng.randrange(500),
        )
        out.append(line)
        size += len(line) + 1
    return "\n".join(out) + "\n"


def _wheaty_locals(rng: random.Random, n_bytes: int, newline: str) -> str:
    out: list[str] = []
    size = 0
    while size < n_bytes:
        block = [
            f"Local <user defined> 'itr{rng.randrange(100)}' 0x{rng.randrange(16**12):016X}",
            f"\tunsigned int m_count = {rng.randrange(10**6)}",
            f"\tPlayer* m_owner = 0x{rng.randrange(16**12):016X}",
            f'\tstd::string m_name = "Char{rng.randrange(10**5)}"',
            "",
        ]
        text = newline.join(block) + newline
        out.append(text)
        size += len(text)
    return "".join(out)


def _machine_threads(rng: random.Random, n_bytes: int, first_thread: int) -> str:
    out: list[str] = []
    size, thread = 0, first_thread
    while size < n_bytes:
        for i, (mod, fn) in enumerate(
            [("ntdll.dll", "NtWaitForSingleObject"), ("KERNELBASE.dll", "WaitForSingleObjectEx"),
             ("worldserver.exe", "MapUpdater::WorkerThread"), ("KERNEL32.DLL", "BaseThreadInitThunk")]
        ):  # fmt: skip
            line = f"{thread}|{i}|{mod}|{fn}|||0x{rng.randrange(16**3):x}"
            out.append(line)
            size += len(line) + 1
        thread += 1
    return "\n".join(out) + "\n"


def _console_width(text: str) -> int | None:
    """The column count a console hard-wrapped ``text`` at (cdb output copied from an 80-column
    window), or None. Every line of such a capture is wrapped, the log lines around it too."""
    if unwrap(text) == text:
        return None
    return max(len(line) for line in text.split("\n"))


def _hard_wrap(text: str, width: int) -> str:
    out: list[str] = []
    for line in text.split("\n"):
        out += [line[i : i + width] for i in range(0, len(line), width)] or [""]
    return "\n".join(out)


def grow(fmt: str, data: bytes, target: int, rng: random.Random) -> bytes:
    """``data`` grown to about ``target`` bytes with content of its kind."""
    need = target - len(data)
    if need <= 0:
        return data
    text = data.decode("utf-8", "replace")
    newline = "\r\n" if "\r\n" in text else "\n"
    if fmt == "wheaty":
        return (text.rstrip("\r\n") + newline + _wheaty_locals(rng, need, newline)).encode()
    if fmt == "minidump_stackwalk" and "|" in text.splitlines()[-1]:
        return (text.rstrip("\n") + "\n" + _machine_threads(rng, need, 50)).encode()
    half = _log_lines(rng, need // 2)
    rest = _log_lines(rng, need - len(half))
    width = _console_width(text)
    if width:
        half, rest = _hard_wrap(half, width), _hard_wrap(rest, width)
    return (half + text.rstrip("\n") + "\n" + rest).encode()


def _key(data: bytes) -> list[tuple[str, str]]:
    return [(r.format, r.signature) for r in parse_bytes(data)]


def samples(rng: random.Random) -> dict[str, tuple[list[bytes], int]]:
    """format -> (grown samples that parse like their originals, how many grown ones did not)."""
    out: dict[str, tuple[list[bytes], int]] = {}
    for fmt, bases in base_samples().items():
        kept: list[bytes] = []
        refused = 0
        for data in bases:
            want = _key(data)
            for kb in SIZES_KB:
                grown = grow(fmt, data, kb * 1024, rng)
                if _key(grown) == want:
                    kept.append(grown)
                else:
                    refused += 1
        out[fmt] = (kept, refused)
    return out


def rate(
    items: list[bytes], seconds: float, parse: Callable[[bytes], object] = parse_bytes
) -> tuple[float, int]:
    """Reports per second parsing ``items`` round-robin, best of 3 rounds of ``seconds / 3``
    (other load on the machine only ever slows a round down); (rate, reports parsed)."""
    for data in items:  # warm caches (regexes, frame lists) as a running service has them
        parse(data)
    best, total = 0.0, 0
    for _ in range(3):
        n = 0
        start = time.perf_counter()
        while True:
            for data in items:
                parse(data)
            n += len(items)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 3:
                break
        best, total = max(best, n / elapsed), total + n
    return best, total


def big_wheaty(size: int = 6 * 1024 * 1024) -> tuple[bytes, float, bool]:
    """(the padded log, seconds to parse it, whether it parsed like the original)."""
    data = WHEATY_BIG.read_bytes()
    big = grow("wheaty", data, size, random.Random(5))
    elapsed, got = float("inf"), _key(big)
    for _ in range(3):  # best of 3, as above
        start = time.perf_counter()
        got = _key(big)
        elapsed = min(elapsed, time.perf_counter() - start)
    return big, elapsed, got == _key(data)


def bench_parse(seconds_per_format: float = 1.5) -> dict[str, dict[str, float]]:
    rng = random.Random(31)
    out: dict[str, dict[str, float]] = {}
    for fmt, (items, refused) in samples(rng).items():
        if not items:
            continue
        r, n = rate(items, seconds_per_format)
        sizes = sorted(len(d) for d in items)
        out[fmt] = {
            "rate": r,
            "n": n,
            "samples": len(items),
            "refused": refused,
            "kb_min": sizes[0] / 1024,
            "kb_max": sizes[-1] / 1024,
            "kb_mean": sum(sizes) / len(sizes) / 1024,
        }
    big, seconds, same = big_wheaty()
    out["wheaty_6mb"] = {"seconds": seconds, "mb": len(big) / 1024 / 1024, "same": float(same)}
    return out
