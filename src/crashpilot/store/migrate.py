"""Bring a database's schema up to date: Alembic, configured in code (no alembic.ini at run time).

Every process that opens the store calls :func:`upgrade`; when the schema is current it costs one
small query, and Alembic is not even imported (it weighs ~12 MB of memory in a long-lived
``crashpilot run``): the head revision is read from the migration files themselves. Two processes starting at once are safe: the upgrade runs in one transaction that
first takes a lock (``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and
then re-reads the revision, so the second process finds the work done. Both databases run DDL
inside transactions, so a failed upgrade leaves the old schema intact.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashpilot.errors import ConfigError
from crashpilot.store.db import write_transaction

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
# Key of the PostgreSQL advisory lock held while migrating (any fixed 63-bit number).
_PG_LOCK_KEY = 0x63705F6D69677261  # "cp_migra"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for crashpilot's migrations; ``url`` only for the ``alembic`` CLI use."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


_REVISION = re.compile(r'^revision(?::\s*str)?\s*=\s*["\']([^"\']+)["\']', re.M)
_DOWN = re.compile(r'^down_revision(?::[^=]*)?=\s*(?:["\']([^"\']+)["\']|None)', re.M)


@functools.cache
def head_revision() -> str:
    """The newest revision: the one no other migration file names as its ``down_revision``."""
    revisions, downs = set(), set()
    for path in (SCRIPT_LOCATION / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(text), _DOWN.search(text)
        if rev:
            revisions.add(rev.group(1))
            if down and down.group(1):
                downs.add(down.group(1))
    heads = revisions - downs
    if len(heads) != 1:  # pragma: no cover - the package always ships one line of migrations
        raise ConfigError(f"expected one head revision in {SCRIPT_LOCATION}, found {sorted(heads)}")
    return heads.pop()


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, None for an empty database."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def is_current(engine: Engine) -> bool:
    with engine.connect() as conn:
        return current_revision(conn) == head_revision()


def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    try:
        _script().get_revision(revision)
    except Exception as exc:  # alembic raises CommandError / ResolutionError subclasses
        raise ConfigError(
            f"the database schema is at revision {revision!r}, which this crashpilot does not know: "
            "it was upgraded by a newer crashpilot; upgrade crashpilot too"
        ) from exc


def upgrade(engine: Engine, revision: str = "head") -> bool:
    """Upgrade the schema to ``revision``; returns True when something was applied.

    Idempotent and safe to call from several processes at once.
    """
    target = head_revision() if revision == "head" else revision
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == target:
        return False
    _check_known(current)
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        current = current_revision(conn)
        if current == target:
            return False
        _check_known(current)
        log.info("upgrading database schema", extra={"from": current, "to": target})
        from alembic import command

        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return True
