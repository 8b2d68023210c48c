"""Artifacts: build logs, patches, briefs — bytes in the blob store, a row that names them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import utcnow


def save(
    conn: Connection,
    blobs: BlobStore,
    kind: str,
    data: bytes,
    *,
    name: str | None = None,
    group_id: int | None = None,
    run_id: int | None = None,
) -> int:
    sha = blobs.put(data)
    key = conn.execute(
        sa.insert(schema.artifacts).values(
            sha256=sha, kind=kind, name=name, group_id=group_id, run_id=run_id, size=len(data), created_at=utcnow()
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def latest(conn: Connection, kind: str, *, group_id: int) -> dict[str, Any] | None:
    a = schema.artifacts
    row = conn.execute(
        sa.select(a).where(a.c.kind == kind, a.c.group_id == group_id).order_by(a.c.id.desc()).limit(1)
    ).mappings().first()
    return dict(row) if row else None
