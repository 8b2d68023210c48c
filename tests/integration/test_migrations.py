"""Migrations on empty real databases: they build exactly schema.metadata, once, even when raced."""

from __future__ import annotations

import multiprocessing as mp
import tomllib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from crashpilot.errors import ConfigError
from crashpilot.store import migrate
from crashpilot.store.db import make_engine
from crashpilot.store.schema import metadata

SPAWN = mp.get_context("spawn")


def _columns(engine: Engine) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (generic type name, nullable), as the database reports them."""
    inspector = sa.inspect(engine)
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        out[table] = {
            c["name"]: (_kind(c["type"]), bool(c["nullable"])) for c in inspector.get_columns(table)
        }
    return out


def _kind(type_: Any) -> str:
    """A coarse type family, comparable between what metadata declares and what a database reports."""
    for family, names in {
        "int": ("INTEGER", "BIGINT", "SMALLINT"),
        "text": ("TEXT", "VARCHAR", "STRING", "CHAR"),
        "time": ("DATETIME", "TIMESTAMP"),
        "float": ("FLOAT", "REAL", "DOUBLE", "DOUBLE_PRECISION", "NUMERIC"),
        "json": ("JSON", "JSONB"),
    }.items():
        if any(type(type_).__name__.upper().startswith(n) for n in names):
            return family
    return type(type_).__name__


def _expected() -> dict[str, dict[str, tuple[str, bool]]]:
    return {
        t.name: {c.name: (_kind(c.type), bool(c.nullable)) for c in t.columns} for t in metadata.sorted_tables
    }


def test_upgrade_builds_exactly_the_metadata(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        assert migrate.upgrade(engine) is True
        assert _columns(engine) == _expected()
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []  # what `alembic check` checks
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("jobs")}
        assert {"ix_jobs_claim", "ix_jobs_group_id"} <= indexes
        # second call: a no-op
        assert migrate.upgrade(engine) is False
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


def test_a_diff_is_detected_when_metadata_and_database_disagree(empty_db_url: str) -> None:
    """The check above can fail: a column the migration does not create shows up in the diff."""
    engine = make_engine(empty_db_url)
    try:
        migrate.upgrade(engine)
        other = sa.MetaData(naming_convention=metadata.naming_convention)
        for table in metadata.sorted_tables:
            table.to_metadata(other)
        other.tables["jobs"].append_column(sa.Column("worker_host", sa.String(100)))
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), other)
        assert [(d[0], d[3].name) for d in diff] == [("add_column", "worker_host")]
    finally:
        engine.dispose()


def upgrade_in_child(url: str, go: Any) -> None:
    engine = make_engine(url)
    go.wait(60)
    migrate.upgrade(engine)
    engine.dispose()


@pytest.mark.slow
def test_two_processes_upgrading_at_once(empty_db_url: str) -> None:
    go = SPAWN.Event()
    procs = [SPAWN.Process(target=upgrade_in_child, args=(empty_db_url, go), daemon=True) for _ in range(2)]
    for proc in procs:
        proc.start()
    go.set()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    engine = make_engine(empty_db_url)
    try:
        assert migrate.is_current(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def test_a_database_from_a_newer_crashpilot_is_refused(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'zz_future'"))
        with pytest.raises(ConfigError, match="newer crashpilot"):
            migrate.upgrade(engine)
    finally:
        engine.dispose()


def test_migration_files_are_package_data() -> None:
    """Every file Alembic needs is matched by the package data (or is a module of a package)."""
    root = Path(migrate.__file__).parent
    needed = [root / "migrations" / "env.py", root / "migrations" / "script.py.mako"]
    needed += sorted((root / "migrations" / "versions").glob("[0-9]*.py"))
    assert len(needed) >= 3
    for pkg in (root / "migrations", root / "migrations" / "versions"):
        assert (pkg / "__init__.py").is_file(), f"{pkg} must be a package so setuptools finds it"
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["crashpilot"]
    base = root.parent
    for path in needed:
        rel = path.relative_to(base).as_posix()
        assert path.suffix == ".py" or any(Path(rel).match(p) for p in patterns), rel


def test_head_read_from_the_files_is_alembics_head() -> None:
    """`upgrade` reads the head revision without importing Alembic; it must agree with Alembic."""
    from alembic.script import ScriptDirectory

    assert migrate.head_revision() == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
