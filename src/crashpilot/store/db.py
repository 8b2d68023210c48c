"""Engines: SQLite (WAL, busy timeout, foreign keys) by default, PostgreSQL via psycopg 3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashpilot.errors import ConfigError

# Execution option asking the SQLite engine to open the transaction with BEGIN IMMEDIATE.
IMMEDIATE = "crashpilot_immediate"


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """``value`` as timezone-aware UTC (SQLite hands back naive datetimes that are UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that takes the write lock up front.

    On SQLite the transaction starts with BEGIN IMMEDIATE, so a read-then-write transaction cannot
    fail with "database is locked" half way (the busy timeout applies to the BEGIN instead). On
    PostgreSQL it is an ordinary transaction. Commits on success, rolls back on error.
    """
    with engine.connect() as conn:
        conn.execution_options(**{IMMEDIATE: True})
        with conn.begin():
            yield conn


def sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'crashpilot.db'}"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` ('sqlite:///path' or 'postgresql://...')."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Let us issue BEGIN ourselves (BEGIN IMMEDIATE for claims).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # The execution option lives on this checkout only; conn.info (kept for callers that
            # set it) belongs to the pooled DBAPI connection and must be reset by whoever sets it.
            immediate = conn.get_execution_options().get(IMMEDIATE) or conn.info.get("immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "database.url points at PostgreSQL but psycopg is not installed: pip install 'crashpilot[postgres]'"
            ) from exc
        return sa.create_engine(url, pool_pre_ping=True)
    raise ConfigError(f"database.url: unsupported database URL scheme in {url.split(':', 1)[0]!r}")
