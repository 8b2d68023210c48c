"""The shared corpus of real crash reports, scored by ../shared/corpus/score.py as CI does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"


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
        env={**os.environ},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "parse:" in r.stdout
