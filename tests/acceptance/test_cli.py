"""crashpilot as users and scripts run it: the console script in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "crashpilot" / "samples" / "crashes"


def cp(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crashpilot", *args], capture_output=True, text=True, timeout=timeout, env=env or dict(os.environ), cwd=cwd
    )


def test_parse_contract_and_exit_codes(tmp_path: Path) -> None:
    r = cp("parse", "--json", str(SAMPLES / "asan_lootmgr.txt"))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data, list) and len(data) == 1
    obj = data[0]
    for key in ("format", "crash_kind", "exception_code", "message", "revision", "crashing_thread", "first_app_frame", "signature"):
        assert key in obj
    assert obj["format"] == "asan" and obj["crash_kind"] == "heap-use-after-free"
    frame = obj["crashing_thread"]["frames"][0]
    assert set(frame) >= {"function", "module", "file", "line", "address", "module_offset", "in_app"}
    assert obj["first_app_frame"]["function"] == "Loot::NotifyItemRemoved"

    junk = tmp_path / "junk.txt"
    junk.write_text("nothing to see here\n")
    r = cp("parse", "--json", str(junk))
    assert r.returncode == 3
    (obj,) = json.loads(r.stdout)
    assert obj["format"] == "other" and obj["error"] and obj["crashing_thread"]["frames"] == []

    r = cp("parse", str(tmp_path / "missing.txt"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "cannot read" in r.stderr


def test_ingest_groups_show_quarantine_stats(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = cp("--home", str(home), "ingest", "--json", str(SAMPLES))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["files"] == 6 and summary["quarantined"] == 1
    groups = json.loads(cp("groups", "--json", "--home", str(home)).stdout)
    assert len(groups) == 4
    for g in groups:
        assert set(g) >= {"id", "signature", "count", "status", "first_seen", "last_seen"}
        assert g["status"] == "new" and g["last_seen"].endswith("Z")
    assert sorted(g["count"] for g in groups) == [1, 1, 1, 2]
    # Ingesting the same folder again changes nothing.
    again = json.loads(cp("--home", str(home), "ingest", "--json", str(SAMPLES)).stdout)
    assert again["duplicates"] == 6 and again["new_reports"] == 0
    q = json.loads(cp("--home", str(home), "quarantine", "--json").stdout)
    assert len(q) == 1 and "no known crash format" in q[0]["reason"]
    shown = cp("--home", str(home), "show", str(groups[0]["id"]))
    assert shown.returncode == 0 and "signature:" in shown.stdout
    stats = json.loads(cp("--home", str(home), "stats", "--json").stdout)
    assert stats["reports"] == 6 and stats["groups"] == 4 and stats["jobs_by_status"] == {"queued": 4}
    missing = cp("--home", str(home), "show", "999")
    assert missing.returncode == 1 and "no group 999" in missing.stderr
    # retry queues ANALYSE again; db upgrade is a no-op on a current database.
    r = cp("--home", str(home), "retry", str(groups[0]["id"]))
    assert r.returncode == 0 and "queued again" in r.stdout
    assert json.loads(cp("--home", str(home), "stats", "--json").stdout)["jobs_by_status"] == {"queued": 5}
    assert cp("--home", str(home), "retry", "--job", "9999").returncode == 1
    r = cp("--home", str(home), "db", "upgrade")
    assert r.returncode == 0 and "already at" in r.stdout


def test_init_presets_and_config_errors(tmp_path: Path) -> None:
    r = cp("init", "--preset", "trinitycore", "--path", str(tmp_path))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "crashpilot.toml").read_text()
    assert "worldserver" in text and 'in_app = ["src/"]' in text
    assert cp("init", "--path", str(tmp_path)).returncode == 1  # no silent overwrite
    settings = json.loads(cp("settings", "--json", cwd=tmp_path).stdout)
    by_key = {s["key"]: s for s in settings["settings"]}
    assert by_key["project.base_branch"]["value"] == "3.3.5" and by_key["project.base_branch"]["source"] == "file"

    (tmp_path / "crashpilot.toml").write_text("[worker]\nbuild_slots = 'two'\n")
    r = cp("groups", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "crashpilot.toml:2: worker.build_slots must be a whole number" in r.stderr


def test_run_watches_a_folder_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    home, crashes = tmp_path / "home", tmp_path / "crashes"
    crashes.mkdir()
    env = {**os.environ, "CRASHPILOT_HOME": str(home), "CRASHPILOT_WATCH_SETTLE_SECONDS": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crashpilot", "run", "--watch", str(crashes)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 20
        while not (home / "crashpilot.db").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        (crashes / "crash1.log").write_bytes((SAMPLES / "gdb-2026-11-22-18-40-02.txt").read_bytes())
        groups: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            out = cp("--home", str(home), "groups", "--json", env=env)
            groups = json.loads(out.stdout) if out.returncode == 0 else []
            if groups and groups[0]["status"] == "needs_human":
                break
            time.sleep(0.2)
        assert groups and groups[0]["count"] == 1 and groups[0]["status"] == "needs_human"
        assert (home / "briefs" / f"group-{groups[0]['id']}.md").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "ingested" in out and "stopped" in out


@pytest.mark.slow
def test_demo_runs_the_main_job(tmp_path: Path) -> None:
    r = cp("demo", "--home", str(tmp_path / "demo"), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "REPLAYS A RECORDED CONVERSATION" in out  # no key in the test environment: said on screen
    for stage in ("INGEST", "ANALYSE", "FIX", "BUILD", "VERIFY"):
        assert f" {stage} " in out, out
    assert "local pull request 1 for group 1" in out
    assert "verification:  reproduced-and-fixed" in out
    assert "timings per stage: ANALYSE" in out
    prs = cp("prs", "--home", str(tmp_path / "demo"), "--json")
    assert [(p["status"], p["verification"], p["branch"]) for p in json.loads(prs.stdout)] == [
        ("open", "reproduced-and-fixed", "crashpilot/1")
    ]


def test_resign_after_a_rules_change_moves_reports(tmp_path: Path) -> None:
    home = tmp_path / "home"
    corpus = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "crashes"
    source = corpus if corpus.is_dir() else SAMPLES
    assert cp("--home", str(home), "ingest", str(source)).returncode == 0
    before = json.loads(cp("--home", str(home), "groups", "--json").stdout)
    same = json.loads(cp("--home", str(home), "resign", "--json").stdout)
    assert same["moved"] == 0 and same["unchanged"] == same["reports"]
    # A shallower signature (one frame) is a rules change: reports move to groups of new signatures.
    env = {**os.environ, "CRASHPILOT_GROUPING_DEPTH": "1"}
    dry = json.loads(cp("--home", str(home), "resign", "--dry-run", "--json", env=env).stdout)
    assert dry["moved"] > 0
    assert json.loads(cp("--home", str(home), "groups", "--json").stdout) == before  # dry run changed nothing
    moved = cp("--home", str(home), "resign", env=env)
    assert moved.returncode == 0 and "moved" in moved.stdout
    after = json.loads(cp("--home", str(home), "groups", "--json").stdout)
    assert sum(g["count"] for g in after) == sum(g["count"] for g in before)
    live_before = {g["signature"] for g in before if g["count"]}
    live_after = {g["signature"] for g in after if g["count"]}
    assert live_after != live_before
    assert max(g["signature"].count(" | ") for g in after if g["count"]) < max(g["signature"].count(" | ") for g in before)
