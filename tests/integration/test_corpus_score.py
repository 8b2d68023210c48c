"""The shared corpus of real crash reports, scored by ../shared/corpus/score.py as CI does.

score.py's matcher misreads three expected top frames as function names although they are
unsymbolized frames or carry HAProxy's ``+off/size`` suffix (its own docstring says it is lenient on
offsets and that a tool "must not invent a function" for unsymbolized frames):

- ``free_logsrv+0x50/0x5b``: the ``/0x5b`` size defeats its offset strip, so only a function literally
  named ``free_logsrv+0x50/0x5b`` would match; crashpilot reports ``free_logsrv``.
- ``[0x333208]`` (an ACE stack address) and ``/usr/lib/libc.so.6(+0x72ecf)[0x...]`` (a
  ``backtrace_symbols`` line without symbol) are not recognised as address frames, so only an invented
  function name would match; crashpilot reports no function and the address / module+offset, as the
  ``parse --json`` contract requires.

This test therefore runs score.py unchanged and asserts: every threshold except ``top`` holds, and
every ``top`` miss is one of those three, so any new miss fails. The product owner has been told.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
SCORER_MISREADS = {"haproxy-1636", "skyfire406-766", "yubico-pam-26"}


def _crashpilot_exe() -> str:
    exe = Path(sys.executable).parent / "crashpilot"
    if exe.exists():
        return str(exe)
    found = shutil.which("crashpilot")
    assert found, "the crashpilot console script is not installed"
    return found


@pytest.mark.skipif(not (CORPUS / "score.py").exists(), reason=f"no shared corpus at {CORPUS}")
def test_shared_corpus_meets_thresholds() -> None:
    r = subprocess.run(
        [sys.executable, str(CORPUS / "score.py"), _crashpilot_exe(), str(CORPUS / "crashes")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = r.stdout
    summary = re.search(r"parse: format (\d+)/(\d+), kind (\d+)/(\d+), top (\d+)/(\d+), first_app (\d+)/(\d+)", out)
    assert summary, out + r.stderr
    fmt, fmt_n, kind, kind_n, top, top_n, app, app_n = map(int, summary.groups())
    assert fmt == fmt_n, out
    assert kind >= 0.95 * kind_n, out
    assert app >= 0.90 * app_n, out
    top_misses = set(re.findall(r"^miss top: (\S+)", out, re.M))
    assert top_misses <= SCORER_MISREADS, f"new top-frame misses: {top_misses - SCORER_MISREADS}\n{out}"
    assert top >= top_n - len(SCORER_MISREADS)
    if r.returncode == 0:  # score.py was fixed: the exception list above can go
        assert top >= 0.95 * top_n
