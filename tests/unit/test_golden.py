"""Golden files: every ``tests/data/crashes/<format>/<case>.txt`` parses to its ``.expected.json``.

Regenerate after an intended change with ``pytest tests/unit/test_golden.py --regen-golden`` and
read the diff before committing it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crashpilot.formats import parse_bytes

CASES = sorted((Path(__file__).resolve().parents[1] / "data" / "crashes").glob("*/*.txt"))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.stem}" for c in CASES])
def test_golden(case: Path, request: pytest.FixtureRequest) -> None:
    got = [r.to_json() for r in parse_bytes(case.read_bytes())]
    expected_path = case.with_suffix(".expected.json")
    if request.config.getoption("--regen-golden") or not expected_path.exists():
        expected_path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if not request.config.getoption("--regen-golden"):
            pytest.fail(f"{expected_path.name} was missing and has been written: review and commit it")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert got == expected
    # The folder name is the format the file must be read as.
    assert got[0]["format"] == case.parent.name
