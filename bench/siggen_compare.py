"""Signature throughput, side by side with Mozilla's ``siggen`` on the same pre-parsed frames.

Run: ``python -m bench.siggen_compare [--n 3000] [--json]`` (needs ``pip install siggen``, in
the ``dev`` extra). Stacks come from the golden files, the shared corpus (when present) and
generated gdb/ASan reports (``bench.corpus``), all parsed once before timing; only signing is
timed. crashpilot is timed twice: cold (its per-string memos cleared before each pass) and warm
(memos filled, as during a crash storm). The number of distinct signatures each produces on the
same stacks is printed too, as a rough view of how finely each splits.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.corpus import crash_text
from crashpilot.formats import parse_bytes, parse_text
from crashpilot.models import CrashReport
from crashpilot.signature import _list_match, _normalized, _runtime_module, make_signature
from crashpilot.signature.normalize import module_basename

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT / "tests" / "data" / "crashes", ROOT.parent / "shared" / "corpus" / "crashes")


def stacks(n_generated: int, seed: int = 7) -> list[CrashReport]:
    """Parsed reports with at least one frame: real files, then generated ones."""
    out: list[CrashReport] = []
    for folder in SOURCES:
        if folder.is_dir():
            for path in sorted(folder.rglob("*.txt")):
                out.extend(r for r in parse_bytes(path.read_bytes()) if r.frames)
    rng = random.Random(seed)
    for _ in range(n_generated):
        out.extend(r for r in parse_text(crash_text(rng.randrange(400), rng)) if r.frames)
    return out


def socorro_crash_data(report: CrashReport) -> dict[str, Any]:
    """The crash-data dict ``siggen`` takes (Socorro's processed-crash shape, one thread)."""
    frames = []
    for i, f in enumerate(report.frames):
        frame: dict[str, Any] = {"frame": i}
        if f.function:
            frame["function"] = f.function
        if f.module:
            frame["module"] = module_basename(f.module)
        if f.file:
            frame["file"] = f.file
        if f.line is not None:
            frame["line"] = f.line
        if f.module_offset:
            frame["module_offset"] = f.module_offset
        if f.address:
            frame["offset"] = f.address
        frames.append(frame)
    return {"crashing_thread": 0, "threads": [{"frames": frames}], "os": "Linux"}


def _clear() -> None:
    for memo in (_normalized, _list_match, _runtime_module):
        memo.cache_clear()


def run(n_generated: int = 3000, repeat: int = 3) -> dict[str, Any]:
    reports = stacks(n_generated)
    datas = [socorro_crash_data(r) for r in reports]
    result: dict[str, Any] = {"stacks": len(reports)}

    def best(fn: Any, before: Any = None) -> float:
        times = []
        for _ in range(repeat):
            if before:
                before()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    ours = [""] * len(reports)

    def sign_ours() -> None:
        for i, r in enumerate(reports):
            ours[i] = make_signature(r)

    result["crashpilot_cold_per_s"] = round(len(reports) / best(sign_ours, _clear))
    result["crashpilot_warm_per_s"] = round(len(reports) / best(sign_ours))
    result["crashpilot_distinct"] = len(set(ours))
    try:
        from siggen.generator import SignatureGenerator
    except ImportError:
        result["siggen"] = "not installed (pip install siggen)"
        return result
    generator = SignatureGenerator()
    theirs = [""] * len(datas)

    def sign_siggen() -> None:
        for i, d in enumerate(datas):
            theirs[i] = generator.generate(d).signature

    result["siggen_per_s"] = round(len(datas) / best(sign_siggen))
    result["siggen_distinct"] = len(set(theirs))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="generated reports on top of the real ones")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.n)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        for key, value in result.items():
            sys.stdout.write(f"{key:24s} {value}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
