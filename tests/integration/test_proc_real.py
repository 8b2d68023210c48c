"""proc.run against real processes: timeouts kill the whole group, output is capped, no secrets."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from crashpilot.errors import CommandFailed
from crashpilot.proc import clean_env, run

PY = sys.executable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_exit_code_stdout_stderr(tmp_path: Path) -> None:
    res = run(
        [PY, "-c", "import sys; print('hi'); print('oops', file=sys.stderr); sys.exit(3)"],
        cwd=tmp_path,
        timeout=30,
        env=None,
    )
    assert res.returncode == 3
    assert res.signal is None
    assert res.stdout == "hi\n"
    assert res.stderr == "oops\n"
    assert not res.timed_out
    assert not res.ok


def test_signal_is_reported(tmp_path: Path) -> None:
    res = run(
        [PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"],
        cwd=tmp_path,
        timeout=30,
        env=None,
    )
    assert res.returncode == -signal.SIGSEGV
    assert res.signal == signal.SIGSEGV


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    # The shell starts a grandchild that ignores SIGTERM and records its pid, then waits.
    script = (
        f'{PY} -c "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); '
        f"open('{pidfile}', 'w').write(str(os.getpid())); time.sleep(120)\" & wait"
    )
    started = time.monotonic()
    res = run(script, shell=True, cwd=tmp_path, timeout=1.0, env=None, kill_grace=0.5)
    assert res.timed_out
    assert time.monotonic() - started < 15
    deadline = time.monotonic() + 5
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
    with pytest.raises(CommandFailed, match="timed out"):
        res.check()


def test_leftover_background_child_is_killed_when_leader_exits(tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    script = f"sleep 120 & echo $! > {pidfile}; echo done"
    res = run(script, shell=True, cwd=tmp_path, timeout=30, env=None)
    assert res.ok
    assert res.stdout == "done\n"
    bg = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(bg) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(bg)


def test_output_is_capped_head_and_tail(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write('START' + 'x' * 500000 + 'END')"
    res = run([PY, "-c", code], cwd=tmp_path, timeout=30, env=None, max_output=1000)
    assert res.truncated
    assert res.stdout.startswith("START")
    assert res.stdout.endswith("END")
    assert len(res.stdout) < 1200


def test_input_and_merged_output(tmp_path: Path) -> None:
    code = "import sys; d = sys.stdin.read(); print(d.upper()); print('e', file=sys.stderr)"
    res = run([PY, "-c", code], cwd=tmp_path, timeout=30, env=None, input="abc", merge_output=True)
    assert res.ok
    assert "ABC" in res.stdout and "e" in res.stdout
    assert res.stderr == ""


def test_stdin_is_closed_without_input(tmp_path: Path) -> None:
    res = run([PY, "-c", "import sys; print(repr(sys.stdin.read()))"], cwd=tmp_path, timeout=30, env=None)
    assert res.stdout.strip() == "''"


def test_missing_program_raises(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed, match="cannot start"):
        run(["/nonexistent/crashpilot-no-such-program"], cwd=tmp_path, timeout=5, env=None)


def test_child_cannot_see_the_model_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-very-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_testsecret")
    monkeypatch.setenv("CRASHPILOT_OPENAI_API_KEY", "sk-openai-secret")
    res = run(["env"], cwd=tmp_path, timeout=30, env=clean_env(os.environ))
    assert res.ok
    assert "PATH=" in res.stdout
    assert "sk-ant-test-very-secret" not in res.stdout
    assert "ghp_testsecret" not in res.stdout
    assert "sk-openai-secret" not in res.stdout
    # ... while the unscrubbed environment would have leaked it (the test can fail).
    leaky = run(["env"], cwd=tmp_path, timeout=30, env=None)
    assert "sk-ant-test-very-secret" in leaky.stdout
