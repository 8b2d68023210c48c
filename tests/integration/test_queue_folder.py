"""The request-queue folder of the earlier design: requests in, responses out, on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from crashpilot.ingest.queue_folder import RequestQueue
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import make_engine


def _request(folder: Path, rid: str, location: str, code: str = "C0000005", name: str | None = None) -> Path:
    body = {
        "request_id": rid,
        "timestamp": "2025-10-30T17:10:47",
        "status": "pending",
        "crash": {
            "crash_id": f"crash-{rid}",
            "exception_code": code,
            "crash_location": location,
            "error_message": "Access violation reading location 0x0000000000000010",
        },
        "request_type": "analyze_and_fix",
        "priority": "high",
    }
    path = folder / "requests" / f"request_{name or rid}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return path


def _store(tmp_path: Path) -> tuple[sa.Engine, BlobStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    schema.metadata.create_all(engine)
    return engine, BlobStore(tmp_path / "blobs")


def test_requests_become_reports_and_responses_follow_the_group(tmp_path: Path) -> None:
    engine, blobs = _store(tmp_path)
    queue_dir = tmp_path / "crash_analysis_queue"
    _request(queue_dir, "a1", "Unit::DealDamage at Unit.cpp:812")
    _request(queue_dir, "a2", "Unit::DealDamage at Unit.cpp:812")  # same bug, other request
    (queue_dir / "requests" / "request_bad.json").write_text("{not json")
    q = RequestQueue(queue_dir, engine, blobs)

    results = q.scan()
    assert len(results) == 3
    assert sum(r.quarantined for r in results) == 1

    resp = json.loads((queue_dir / "responses" / "response_a1.json").read_text())
    assert resp["request_id"] == "a1" and resp["status"] == "new"
    assert resp["crashpilot"]["group_id"] is not None
    resp2 = json.loads((queue_dir / "responses" / "response_a2.json").read_text())
    assert resp2["crashpilot"]["group_id"] == resp["crashpilot"]["group_id"]
    bad = json.loads((queue_dir / "responses" / "response_bad.json").read_text())
    assert bad["status"] == "quarantined" and bad["crashpilot"]["reason"]

    with engine.begin() as conn:
        rows = conn.execute(sa.select(schema.crash_reports.c.format, schema.crash_reports.c.source)).all()
    assert {r.format for r in rows if r.source != "queue:bad"} == {"seed_request"}

    # Nothing changed: a second scan adds no report and rewrites no response.
    assert q.write_responses() == 0
    q.scan()
    with engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.crash_reports)).scalar() == 3

    # The group moves on: the response follows.
    with engine.begin() as conn:
        conn.execute(sa.update(schema.crash_groups).values(status="needs_human"))
    assert q.write_responses() == 2
    assert json.loads((queue_dir / "responses" / "response_a1.json").read_text())["status"] == "needs_human"
    # The user's request files are left where they are.
    assert len(list((queue_dir / "requests").glob("*.json"))) == 3


def test_request_id_from_untrusted_json_cannot_escape_the_folder(tmp_path: Path) -> None:
    engine, blobs = _store(tmp_path)
    queue_dir = tmp_path / "q"
    _request(queue_dir, "../../evil", "Spell.cpp:1234", name="x1")
    RequestQueue(queue_dir, engine, blobs).scan()
    written = list((queue_dir / "responses").iterdir())
    assert len(written) == 1 and written[0].parent == queue_dir / "responses"
    assert not (tmp_path / "evil.json").exists()
