"""Alembic migrations for the crashpilot store; run them with ``crashpilot.store.migrate.upgrade``."""
