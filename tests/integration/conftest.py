"""Database fixtures for integration tests: a real SQLite file and a real PostgreSQL database.

``db_url`` is parametrized over both: a migrated, empty-of-rows database per test. PostgreSQL
copies come from a template database migrated once per session (``CREATE DATABASE ... TEMPLATE``)
and are dropped after the test. PostgreSQL needs ``CRASHPILOT_TEST_PG`` (a server URL such as
``postgresql://postgres@127.0.0.1:5432/test``); without it those cases are skipped, saying why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from crashpilot.store import migrate
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import make_engine, utcnow
from crashpilot.store.schema import crash_groups

PG_ENV = "CRASHPILOT_TEST_PG"
DB_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _pg_server() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(
            f"{PG_ENV} is not set: PostgreSQL tests need a server URL (postgresql://user@host:port/db)"
        )
    return url


def _pg_url(server: str, database: str) -> str:
    url = make_url(server).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def _pg_admin(server: str, statement: str) -> None:
    engine = make_engine(server)
    try:
        with engine.connect() as admin:
            admin.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(statement)
    finally:
        engine.dispose()


def _create_db(server: str, name: str, template: str | None = None) -> None:
    suffix = f' TEMPLATE "{template}"' if template else ""
    _pg_admin(server, f'CREATE DATABASE "{name}"{suffix}')


def _drop_db(server: str, name: str) -> None:
    _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """Name of a PostgreSQL database migrated to head, used as the template of per-test copies."""
    server = _pg_server()
    name = f"cp_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _create_db(server, name)
    try:
        engine = make_engine(_pg_url(server, name))
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        yield name
    finally:
        _drop_db(server, name)


def _fresh_pg(template: str | None) -> Iterator[str]:
    server = _pg_server()
    name = f"cp_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    _create_db(server, name, template)
    try:
        yield _pg_url(server, name)
    finally:
        _drop_db(server, name)


@pytest.fixture(params=DB_KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database at the current schema, SQLite or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'crashpilot.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
        return
    yield from _fresh_pg(request.getfixturevalue("pg_template"))


@pytest.fixture(params=DB_KINDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database with no tables at all, SQLite or PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty' / 'crashpilot.db'}"
        return
    yield from _fresh_pg(None)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated, empty database: SQLite, and PostgreSQL when CRASHPILOT_TEST_PG is set."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    """The raw-report store in a temporary folder."""
    return BlobStore(tmp_path / "blobs")


class Groups:
    """Make and read crash group rows the way intake would, for tests of the job queue."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, signature: str = "sig", status: str = "new", at: datetime | None = None) -> int:
        now = at or utcnow()
        with self.engine.begin() as conn:
            result = conn.execute(
                crash_groups.insert().values(
                    signature=signature,
                    status=status,
                    count=1,
                    first_seen=now,
                    last_seen=now,
                    revisions=[],
                    updated_at=now,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def status(self, group_id: int) -> tuple[str, str | None]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(crash_groups.c.status, crash_groups.c.status_reason).where(
                    crash_groups.c.id == group_id
                )
            ).one()
            return row.status, row.status_reason


@pytest.fixture
def groups(engine: Engine) -> Groups:
    return Groups(engine)
