"""Alembic environment: runs migrations on the connection that ``crashpilot.store.migrate`` hands in.

``migrate.upgrade`` builds the Alembic Config in code and puts an open connection (inside a
transaction that holds the migration lock) into ``config.attributes["connection"]``. A developer
running the ``alembic`` command against a URL gets an engine of their own instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from crashpilot.store.db import make_engine
from crashpilot.store.schema import metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("crashpilot migrations run online only (crashpilot db upgrade)")
run_online()
