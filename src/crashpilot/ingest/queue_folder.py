"""The request-queue folder of the design crashpilot replaced (``crash_analysis_queue``).

``requests/request_<id>.json`` files are crashes like any other (format ``seed_request``);
crashpilot answers each with ``responses/response_<id>.json``, rewritten whenever the crash's
group moves on (accepted -> analysing -> ... -> fixed / needs_human), so the old tooling can follow
along. Request files are left where they are.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.ingest.intake import IngestResult, ingest_file
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import utcnow

log = logging.getLogger(__name__)

REQUEST_GLOB = "request_*.json"
_ID_FROM_NAME = re.compile(r"^request_(.+)\.json$")
SOURCE_PREFIX = "queue:"


def request_id_of(path: Path) -> str:
    """The request id: from the JSON when it is readable, else from the file name."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("request_id"):
            return _safe_id(str(data["request_id"]))
    except (OSError, ValueError, RecursionError):
        pass
    m = _ID_FROM_NAME.match(path.name)
    return _safe_id(m.group(1) if m else path.stem)


def _safe_id(raw: str) -> str:
    """A request id usable in a file name (the id comes from untrusted JSON)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", raw)[:120] or "unnamed"


class RequestQueue:
    """Reads ``<folder>/requests`` and writes ``<folder>/responses``."""

    def __init__(
        self,
        folder: str | Path,
        engine: Engine,
        blobs: BlobStore,
        ingest: Callable[..., IngestResult] | None = None,
        **ingest_kwargs: Any,
    ) -> None:
        self.folder = Path(folder)
        self.requests = self.folder / "requests"
        self.responses = self.folder / "responses"
        self.engine = engine
        self.blobs = blobs
        self._ingest = ingest or ingest_file
        self._ingest_kwargs = ingest_kwargs

    def scan(self) -> list[IngestResult]:
        """Ingest every request file (already-seen content is a no-op), then refresh responses."""
        results = []
        if self.requests.is_dir():
            for path in sorted(self.requests.glob(REQUEST_GLOB)):
                rid = request_id_of(path)
                try:
                    results.append(
                        self._ingest(
                            self.engine,
                            self.blobs,
                            path,
                            source=f"{SOURCE_PREFIX}{rid}",
                            **self._ingest_kwargs,
                        )
                    )
                except OSError as exc:  # vanished or unreadable: try again next scan
                    log.warning("cannot read request %s: %s", path, exc)
        self.write_responses()
        return results

    def responses_due(self) -> dict[str, dict[str, Any]]:
        """The response object of every request crashpilot has taken in."""
        r, g = schema.crash_reports, schema.crash_groups
        query = (
            sa.select(
                r.c.id,
                r.c.source,
                r.c.status,
                r.c.reason,
                r.c.signature,
                r.c.group_id,
                g.c.status.label("group_status"),
                g.c.branch,
                g.c.pr_url,
            )
            .select_from(r.outerjoin(g, r.c.group_id == g.c.id))
            .where(r.c.source.like(f"{SOURCE_PREFIX}%"))
            .order_by(r.c.id)
        )
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                rid = row.source[len(SOURCE_PREFIX) :]
                status = "quarantined" if row.status == "quarantined" else (row.group_status or "accepted")
                out[rid] = {
                    "request_id": rid,
                    "status": status,
                    "crashpilot": {
                        "report_id": row.id,
                        "group_id": row.group_id,
                        "signature": row.signature,
                        "reason": row.reason,
                        "branch": row.branch,
                        "pr_url": row.pr_url,
                    },
                }
        return out

    def write_responses(self) -> int:
        """Write the responses whose content changed; returns how many were written."""
        written = 0
        for rid, body in self.responses_due().items():
            target = self.responses / f"response_{rid}.json"
            old = _read_json(target)
            if old is not None and {k: v for k, v in old.items() if k != "timestamp"} == body:
                continue
            self.responses.mkdir(parents=True, exist_ok=True)
            _write_atomic(target, {**body, "timestamp": utcnow().isoformat()})
            written += 1
        return written


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".response-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
