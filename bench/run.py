"""Intake benchmarks; writes docs/benchmarks.md. Run: ``python -m bench`` (``make bench``).

1. detection latency: a file is closed in a watched folder -> its report is stored in its group
   (the real inotify Watcher, measured to the ``on_ingested`` callback, which runs after commit);
2. intake throughput: a folder of 5,000 distinct generated gdb/ASan reports, ``ingest_paths`` on
   SQLite in one process;
3. crash storm: 3,000 reports of 4 bugs with varying addresses -> exactly 4 groups (asserted);
4. idle footprint of ``crashpilot run`` watching a folder (RSS and CPU per idle minute);
5. parse throughput per format through ``parse_bytes`` on real reports grown to 5-50 KB, and one
   6 MB WheatyExceptionReport log (bench/parse.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import siggen_compare
from bench.corpus import crash_text
from bench.many_groups import bench_many, render_many, write_section
from bench.parse import FORMATS, bench_parse
from crashpilot.ingest.intake import IngestResult
from crashpilot.ingest.watch import Watcher, ingest_paths
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import make_engine
from crashpilot.store.groups import list_groups
from crashpilot.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]


def fresh_store(base: Path) -> tuple[sa.Engine, BlobStore]:
    engine = make_engine(f"sqlite:///{base / 'crashpilot.db'}")
    upgrade(engine)
    return engine, BlobStore(base / "blobs")


def write_corpus(folder: Path, bugs: list[int], seed: int) -> None:
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    for i, bug in enumerate(bugs):
        (folder / f"crash_{i:05d}.txt").write_text(crash_text(bug, rng))


def bench_latency(base: Path, n: int) -> dict[str, float]:
    engine, blobs = fresh_store(base / "lat")
    folder = base / "lat" / "Crashes"
    folder.mkdir()
    done: dict[str, float] = {}
    cond = threading.Condition()

    def on_ingested(result: IngestResult) -> None:
        with cond:
            done[Path(result.source).name] = time.perf_counter()
            cond.notify_all()

    rng = random.Random(3)
    lat: list[float] = []
    with Watcher(engine, blobs, [(folder, "*.txt")], on_ingested=on_ingested):
        time.sleep(0.3)
        for i in range(n):
            name = f"lat_{i:04d}.txt"
            data = crash_text(i % 7, rng).encode()
            with open(folder / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                closing = time.perf_counter()
            with cond:
                if not cond.wait_for(lambda name=name: name in done, timeout=10):
                    raise SystemExit(f"latency: {name} was not ingested within 10 s")
            lat.append((done[name] - closing) * 1000)
            time.sleep(0.02)
    lat.sort()
    return {"p50": statistics.median(lat), "p95": lat[int(0.95 * (len(lat) - 1))], "max": lat[-1], "n": n}


def bench_throughput(base: Path, n: int) -> dict[str, float]:
    rng = random.Random(11)
    bugs = [rng.randrange(0, 1500) for _ in range(n)]
    folder = base / "thr" / "in"
    write_corpus(folder, bugs, seed=12)
    engine, blobs = fresh_store(base / "thr")
    start = time.perf_counter()
    results = ingest_paths(engine, blobs, [folder])
    elapsed = time.perf_counter() - start
    bad = [r for r in results if r.quarantined or r.duplicate]
    if len(results) != n or bad:
        raise SystemExit(
            f"throughput: {len(results)} results, {len(bad)} quarantined/duplicate (expected {n} new)"
        )
    with engine.connect() as conn:
        groups = len(list_groups(conn))
    return {
        "n": n,
        "seconds": elapsed,
        "rate": n / elapsed,
        "groups": groups,
        "distinct_bugs": len(set(bugs)),
    }


def bench_storm(base: Path, n: int, n_bugs: int) -> dict[str, float]:
    rng = random.Random(21)
    bugs = [rng.choice(range(100, 100 + n_bugs)) for _ in range(n)]
    folder = base / "storm" / "in"
    write_corpus(folder, bugs, seed=22)
    engine, blobs = fresh_store(base / "storm")
    start = time.perf_counter()
    ingest_paths(engine, blobs, [folder])
    elapsed = time.perf_counter() - start
    with engine.connect() as conn:
        counts = sorted(g["count"] for g in list_groups(conn))
        jobs = conn.execute(sa.select(sa.func.count()).select_from(schema.jobs)).scalar_one()
    expected = sorted(Counter(bugs).values())
    if counts != expected or jobs != n_bugs:
        raise SystemExit(
            f"storm: groups {counts} (expected {expected}), analyse jobs {jobs} (expected {n_bugs})"
        )
    return {"n": n, "seconds": elapsed, "rate": n / elapsed, "groups": len(counts), "bugs": n_bugs}


def _proc_stats(pid: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds so far) of ``pid``, from /proc."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


def bench_idle(base: Path, seconds: float) -> dict[str, float | str]:
    home, folder = base / "idle" / "home", base / "idle" / "Crashes"
    folder.mkdir(parents=True)
    exe = Path(sys.executable).with_name("crashpilot")
    cmd = [str(exe), "run", "--home", str(home), "--watch", str(folder)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRASHPILOT_")}
    # As on every start but the very first: the database exists and is current (the first start
    # also imports Alembic to create it, ~12 MB more for the life of that process).
    subprocess.run([str(exe), "db", "upgrade", "--home", str(home)], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until it says it is watching
            line = proc.stdout.readline()
            if not line or line.startswith("watching"):
                break
        if proc.poll() is not None:
            raise SystemExit(f"idle: crashpilot run exited with {proc.returncode}")
        time.sleep(2.0)  # let start-up work (migrations, imports, first scan) finish
        _, cpu0 = _proc_stats(proc.pid)
        time.sleep(seconds)
        rss, cpu1 = _proc_stats(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "rss_mb": rss,
        "cpu_per_min": (cpu1 - cpu0) * 60 / seconds,
        "seconds": seconds,
        "what": "crashpilot run --watch DIR, database already current",
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"


def render(
    lat: dict[str, float],
    thr: dict[str, float],
    storm: dict[str, float],
    idle: dict[str, float | str],
    parse: dict[str, dict[str, float]],
) -> str:
    m = machine()
    rows = [
        (
            "detection latency, file closed -> report in its group (p95)",
            "< 250 ms",
            f"p95 {lat['p95']:.1f} ms (p50 {lat['p50']:.1f}, max {lat['max']:.1f}; {lat['n']:.0f} files, inotify)",
        ),
        (
            "intake throughput, distinct gdb/ASan reports, SQLite, one process",
            ">= 1,000 /s (at least 300)",
            f"{thr['rate']:.0f} /s ({thr['n']:.0f} reports in {thr['seconds']:.1f} s, {thr['groups']:.0f} groups)",
        ),
        (
            "crash storm: reports of a few bugs, varying addresses",
            "one group per bug",
            f"{storm['groups']:.0f} groups for {storm['bugs']:.0f} bugs ({storm['n']:.0f} reports, {storm['rate']:.0f} /s)",
        ),
        ("idle RSS of `crashpilot run`", "< 60 MB", f"{float(idle['rss_mb']):.1f} MB"),
        (
            "idle CPU of `crashpilot run`",
            "< 1 s per minute",
            f"{float(idle['cpu_per_min']):.3f} s per minute (over {float(idle['seconds']):.0f} s)",
        ),
    ]
    out = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (`make bench`); do not edit by hand. Generated TrinityCore-style",
        "gdb and ASan reports (bench/corpus.py); SQLite in WAL mode on the local disk. Blobs are durable",
        "before the rows naming them commit: a lone file is fsynced (watcher), a batch (`ingest_paths`,",
        "256 files; the watcher when several are pending) gets one syncfs and one transaction.",
        "",
        "| metric | goal | measured | machine |",
        "|---|---|---|---|",
    ]
    out += [f"| {a} | {b} | {c} | {m} |" for a, b, c in rows]
    out += [
        "",
        f"Idle footprint measured on `{idle['what']}` (watcher, request queue and workers, nothing to do).",
        "",
        "## Parse throughput per format",
        "",
        "`parse_bytes` (decode, sniff, parse, in-app marking, signature) on one core, on real reports",
        "(golden files and the shared corpus) grown to typical sizes with content of their own kind",
        "(server log lines around a sanitizer/gdb/assert report, local variables in a Wheaty log, idle",
        "threads in stackwalker output); a grown report is used only when it parses to the same format",
        "and signature as the original. Best of 3 rounds (the machine is shared; load only slows a",
        "round down). Goal >= 3,000 reports/s per format (at least 1,000).",
        "",
        "| format | reports/s | samples (sizes) | machine |",
        "|---|---|---|---|",
    ]
    for fmt in FORMATS:
        p = parse.get(fmt)
        if p is None:
            out.append(f"| {fmt} | no samples | | {m} |")
            continue
        size = f"{p['kb_min']:.0f}-{p['kb_max']:.0f} KB, mean {p['kb_mean']:.0f} KB"
        out.append(f"| {fmt} | {p['rate']:,.0f} | {p['samples']:.0f} ({size}) | {m} |")
    big = parse["wheaty_6mb"]
    same = "same report as the unpadded file" if big["same"] else "DIFFERENT report from the unpadded file"
    out += [
        "",
        f"A {big['mb']:.1f} MB WheatyExceptionReport log (a real fixture, locals section padded) parses in "
        f"{big['seconds'] * 1000:.0f} ms (goal < 500 ms; {same}).",
        "",
    ]
    return "\n".join(out)


def render_signing(result: dict[str, Any], where: str) -> str:
    """The signature section: crashpilot and Mozilla's siggen on the same pre-parsed stacks."""
    siggen = (
        f"{result['siggen_per_s']:,} stacks/s ({result['siggen_distinct']} distinct signatures)"
        if "siggen_per_s" in result
        else str(result.get("siggen"))
    )
    return "\n".join(
        [
            "## Signature throughput",
            "",
            f"{result['stacks']} pre-parsed stacks (real reports plus generated ones, bench/siggen_compare.py),"
            " signed by crashpilot and, side by side in the same run, by Mozilla's `siggen` package"
            " (Socorro's signature generator) as a reference point. Best of 3 rounds.",
            "",
            "| signer | measured | machine |",
            "|---|---|---|",
            f"| crashpilot, caches cleared each round | {result['crashpilot_cold_per_s']:,} stacks/s"
            f" ({result['crashpilot_distinct']} distinct signatures) | {where} |",
            f"| crashpilot, warm caches (a crash storm) | {result['crashpilot_warm_per_s']:,} stacks/s | {where} |",
            f"| siggen | {siggen} | {where} |",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=5000)
    ap.add_argument("--storm", type=int, default=3000)
    ap.add_argument("--latency-files", type=int, default=60)
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    ap.add_argument("--parse-seconds", type=float, default=2.0, help="measuring time per format")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument(
        "--many-groups", type=int, default=20, help="crash groups queued at once (bench/many_groups.py)"
    )
    ap.add_argument(
        "--only",
        choices=["parse", "many"],
        help="run only this part and print its figures (docs/benchmarks.md is not written)",
    )
    args = ap.parse_args(argv)
    if args.only == "many":  # prints its figures and rewrites only its own section of the docs
        with tempfile.TemporaryDirectory(prefix="crashpilot-bench-") as tmp:
            many = bench_many(Path(tmp), args.many_groups)
        print(f"many groups: {many}", flush=True)
        write_section(args.out, render_many(many, machine()))
        print(f"wrote the many-groups section of {args.out}")
        return 0
    if args.only == "parse":
        for fmt, figures in bench_parse(args.parse_seconds).items():
            print(f"parse {fmt}: {figures}", flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="crashpilot-bench-") as tmp:
        base = Path(tmp)
        lat = bench_latency(base, args.latency_files)
        print(f"latency: {lat}", flush=True)
        thr = bench_throughput(base, args.reports)
        print(f"throughput: {thr}", flush=True)
        storm = bench_storm(base, args.storm, 4)
        print(f"storm: {storm}", flush=True)
        idle = bench_idle(base, args.idle_seconds)
        print(f"idle: {idle}", flush=True)
        many = bench_many(base, args.many_groups)
        print(f"many groups: {many}", flush=True)
    parse = bench_parse(args.parse_seconds)
    for fmt, figures in parse.items():
        print(f"parse {fmt}: {figures}", flush=True)
    signing = siggen_compare.run()
    print(f"signatures: {signing}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        render(lat, thr, storm, idle, parse)
        + "\n"
        + render_signing(signing, machine())
        + "\n"
        + render_many(many, machine())
    )
    print(f"wrote {args.out}")
    return 0
