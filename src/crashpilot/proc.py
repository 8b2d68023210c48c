"""Run a subprocess in its own process group with a timeout, a capped output and a clean environment.

Compilers, test suites, reproducers, debuggers and agent CLIs all run through :func:`run`:

- the child starts a new session (its own process group), so on a timeout the *whole* group —
  make, the compiler drivers it forked, the test binaries — gets SIGTERM, a short grace, then
  SIGKILL; members still alive after the leader exits are killed too, so nothing is orphaned;
- stdin is closed unless ``input`` is given (an untrusted program never reads our terminal);
- captured output is capped: the first and last bytes are kept, the middle is replaced by a marker;
- :func:`clean_env` builds the scrubbed environment an untrusted program gets (no tokens, no keys).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import signal as _signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from crashpilot.errors import CommandFailed

log = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT = 256 * 1024
KILL_GRACE = 2.0
TRUNCATION_MARK = "\n[... {n} bytes omitted by crashpilot ...]\n"

__all__ = [
    "DEFAULT_ALLOW",
    "SECRET_PATTERNS",
    "Result",
    "clean_env",
    "run",
]


@dataclass(frozen=True)
class Result:
    """What a finished (or killed) subprocess left behind.

    ``returncode`` is as :mod:`subprocess` reports it (negative = ended by that signal);
    ``signal`` is that signal number or None. With ``merge_output`` the combined output is in
    ``stdout`` and ``stderr`` is empty.
    """

    command: list[str] | str
    returncode: int
    signal: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def output(self) -> str:
        """stdout then stderr, as one text."""
        if self.stdout and self.stderr:
            sep = "" if self.stdout.endswith("\n") else "\n"
            return self.stdout + sep + self.stderr
        return self.stdout or self.stderr

    def check(self) -> Result:
        """Return self when the command succeeded, raise :class:`CommandFailed` otherwise."""
        if not self.ok:
            code: int | None = None if self.timed_out else self.returncode
            note = "timed out\n" if self.timed_out else ""
            raise CommandFailed(self.command, code, note + self.output)
        return self


class _Capped:
    """Collects a byte stream, keeping the first ``head`` and the last ``tail`` bytes."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        excess = len(self.tail) - self.tail_limit
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.dropped:
            return head + TRUNCATION_MARK.format(n=self.dropped) + tail
        return head + tail


def _pump(stream: IO[bytes], sink: _Capped) -> None:
    try:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            sink.feed(chunk)
    except (OSError, ValueError):  # pipe closed under us
        pass
    finally:
        try:
            stream.close()
        except OSError:
            pass


def _feed_stdin(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            stream.close()
        except OSError:
            pass


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    if os.name == "nt":  # pragma: no cover - POSIX is what we test
        if sig == _signal.SIGTERM:
            proc.terminate()
        else:
            proc.kill()
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    if os.name == "nt":  # pragma: no cover
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
    _signal_group(proc, _signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.02)
    _signal_group(proc, _signal.SIGKILL)


def run(
    cmd: list[str] | str,
    *,
    cwd: str | Path | None = None,
    timeout: float,
    env: Mapping[str, str] | None = None,
    shell: bool = False,
    input: str | bytes | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    merge_output: bool = False,
    kill_grace: float = KILL_GRACE,
) -> Result:
    """Run ``cmd`` in a new process group; never raises for a non-zero exit (see ``Result.check``).

    ``env`` is the *whole* environment of the child (pass :func:`clean_env` output for untrusted
    programs); None inherits ours. ``max_output`` caps each captured stream (head + tail kept).
    On timeout the process group is killed and ``timed_out`` is True. Raises
    :class:`CommandFailed` only when the program cannot be started at all.
    """
    if isinstance(cmd, str) and not shell:
        raise ValueError("a string command needs shell=True; pass a list otherwise")
    popen_kwargs: dict[str, object] = {}
    if os.name == "nt":  # pragma: no cover
        popen_kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    else:
        popen_kwargs["start_new_session"] = True
    data = input.encode() if isinstance(input, str) else input
    started = time.monotonic()
    try:
        proc = subprocess.Popen(  # noqa: S603 - commands are configured by the operator
            cmd,
            cwd=str(cwd) if cwd is not None else None,
            env=dict(env) if env is not None else None,
            shell=shell,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
            **popen_kwargs,  # type: ignore[call-overload]
        )
    except OSError as exc:
        raise CommandFailed(cmd, None, f"cannot start: {exc}") from exc
    out, err = _Capped(max_output), _Capped(max_output)
    threads = [threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True)]
    if not merge_output:
        threads.append(threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True))
    if data is not None:
        threads.append(threading.Thread(target=_feed_stdin, args=(proc.stdin, data), daemon=True))
    for t in threads:
        t.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        log.warning("command timed out after %.1fs, killing its process group", timeout)
        _stop_group(proc, kill_grace)
        proc.wait()
    except BaseException:
        _stop_group(proc, 0.0)
        proc.wait()
        raise
    # The leader is gone; anything it left in its group (daemons, stray children) goes too,
    # which also closes the pipes those leftovers held so the readers can finish.
    if _group_alive(proc.pid):
        _signal_group(proc, _signal.SIGKILL)
    for t in threads:
        t.join(timeout=5.0)
    duration = time.monotonic() - started
    rc = proc.returncode
    return Result(
        command=cmd,
        returncode=rc,
        signal=-rc if rc < 0 else None,
        stdout=out.text(),
        stderr=err.text(),
        duration=duration,
        timed_out=timed_out,
        truncated=bool(out.dropped or err.dropped),
    )


# Names (or fnmatch patterns) an untrusted build / test / reproducer / agent process may see
# (the last line: Windows needs these to start anything at all).
DEFAULT_ALLOW: tuple[str, ...] = tuple(
    """
    PATH HOME USER LOGNAME SHELL TERM TZ PWD
    LANG LANGUAGE LC_*
    TMPDIR TEMP TMP
    CC CXX CPP LD AR AS NM RANLIB STRIP OBJCOPY
    CFLAGS CXXFLAGS CPPFLAGS LDFLAGS LDLIBS MAKEFLAGS MFLAGS
    CMAKE_* CTEST_* NINJA_STATUS CCACHE_* SCCACHE_DIR SCCACHE_CACHE_SIZE
    PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
    LD_LIBRARY_PATH LIBRARY_PATH CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH
    ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS LSAN_OPTIONS MSAN_OPTIONS
    ASAN_SYMBOLIZER_PATH LLVM_SYMBOLIZER_PATH SOURCE_DATE_EPOCH
    BOOST_ROOT VCPKG_ROOT MYSQL_HOME
    SYSTEMROOT WINDIR COMSPEC PATHEXT SYSTEMDRIVE PROGRAMFILES PROGRAMFILES(X86)
    """.split()
)

# Dropped even when an allow pattern matches: a secret never reaches an untrusted process.
SECRET_PATTERNS: tuple[str, ...] = tuple(
    """
    *_KEY *_KEYS *_KEY_ID *APIKEY* *API_KEY* *TOKEN* *SECRET*
    *PASSWORD* *PASSWD* *_PASS *CREDENTIAL* *_AUTH *PRIVATE* *_DSN
    ANTHROPIC_* OPENAI_* AZURE_OPENAI_* GITHUB_* GH_* GITLAB_* GITEA_*
    CRASHPILOT_* AWS_* AZURE_* GOOGLE_* GCP_* GCLOUD_* SLACK_* DISCORD_*
    HF_* HUGGING* NPM_* PYPI_* TWINE_* DATABASE_URL *_DATABASE_URL
    PGPASSWORD PGPASSFILE SSH_AUTH_SOCK SSH_AGENT_PID GPG_AGENT_INFO
    DOCKER_AUTH_CONFIG SENTRY_* CODECOV_*
    """.split()
)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, p.upper()) for p in patterns)


def is_secret_name(name: str) -> bool:
    """True when an environment variable's name looks like it holds a credential."""
    return _matches(name, SECRET_PATTERNS)


def clean_env(
    base: Mapping[str, str],
    allow: Iterable[str] = DEFAULT_ALLOW,
    *,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A scrubbed copy of ``base``: only names matching ``allow``, never a secret-looking name.

    ``extra`` values are set afterwards (e.g. ``CCACHE_BASEDIR``); they too must not look like
    secrets — pass a secret to a trusted program through its own mechanism, not through here.
    """
    allow = tuple(allow)
    env = {k: v for k, v in base.items() if _matches(k, allow) and not is_secret_name(k)}
    dropped = sorted(k for k in base if k not in env and is_secret_name(k))
    if dropped:
        log.debug("clean_env dropped %d secret-looking variables", len(dropped))
    for key, value in (extra or {}).items():
        if is_secret_name(key):
            raise ValueError(f"refusing to pass secret-looking variable {key!r} to a subprocess")
        env[key] = value
    return env
