"""Engines: SQLite (WAL, busy timeout, foreign keys) by default, PostgreSQL via psycopg 3."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.errors import ConfigError


def utcnow() -> datetime:
    return datetime.now(UTC)


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
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

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
