"""The database schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it.

Times are timezone-aware UTC everywhere; JSON columns hold parsed reports, payloads and details.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = sa.DateTime(timezone=True)

crash_groups = sa.Table(
    "crash_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("signature", sa.Text, nullable=False, unique=True),
    # new, analysing, fixing, building, verifying, pr_open, fixed, needs_human, rejected, regressed ...
    sa.Column("status", sa.String(32), nullable=False, default="new"),
    sa.Column("crash_kind", sa.String(200)),
    sa.Column("title", sa.Text),
    sa.Column("count", sa.Integer, nullable=False, default=0),
    sa.Column("first_seen", TS, nullable=False),
    sa.Column("last_seen", TS, nullable=False),
    sa.Column("revisions", sa.JSON, nullable=False, default=list),
    sa.Column("merged_into", sa.Integer, sa.ForeignKey("crash_groups.id")),
    sa.Column("merge_reason", sa.Text),
    # The fuzzy stage's view of the group's first report: its top meaningful frame (indexed: the
    # only groups a new one is compared with) and its first frame keys.
    sa.Column("fuzzy_top", sa.Text, index=True),
    sa.Column("fuzzy_keys", sa.JSON),
    sa.Column("branch", sa.String(200)),
    sa.Column("pr_url", sa.Text),
    sa.Column("status_reason", sa.Text),
    sa.Column("updated_at", TS, nullable=False),
)

crash_reports = sa.Table(
    "crash_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text),  # where it came from: a path, "upload", "cli", "queue:<request_id>"
    sa.Column("received_at", TS, nullable=False),
    sa.Column("format", sa.String(64)),
    sa.Column("crash_kind", sa.String(200)),
    sa.Column("signature", sa.Text),
    sa.Column("revision", sa.String(100)),
    sa.Column("parsed", sa.JSON),  # the CrashReport(s) as JSON
    # grouped | quarantined
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text),  # why it was quarantined
    sa.Column("group_id", sa.Integer, sa.ForeignKey("crash_groups.id"), index=True),
    sa.Column("companion_sha256", sa.String(64)),  # e.g. the .dmp beside a Wheaty .txt
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("crash_groups.id"), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("stage", sa.String(32)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("verification", sa.String(64)),
    sa.Column("branch", sa.String(200)),
    sa.Column("base_revision", sa.String(64)),
    sa.Column("input_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("output_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cost", sa.Float),
    sa.Column("result", sa.JSON),  # analysis, diff stats, evidence
    sa.Column("started_at", TS, nullable=False),
    sa.Column("ended_at", TS),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("stage", sa.String(32), nullable=False),
    # queued -> running -> done | failed (attempts spent / permanent) ; running -> queued on retry
    sa.Column("status", sa.String(16), nullable=False, default="queued"),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("crash_groups.id"), index=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
    sa.Column("payload", sa.JSON, nullable=False, default=dict),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False, default=5),
    sa.Column("not_before", TS, nullable=False),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_expires", TS),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Index("ix_jobs_claim", "status", "stage", "not_before"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", TS, nullable=False),
    sa.Column("entity", sa.String(16), nullable=False),  # report | group | job | run
    sa.Column("entity_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("from_state", sa.String(32)),
    sa.Column("to_state", sa.String(32)),
    sa.Column("actor", sa.String(200)),
    sa.Column("detail", sa.JSON),
    sa.Index("ix_events_entity", "entity", "entity_id"),
)

exchanges = sa.Table(
    "exchanges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", TS, nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), index=True),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("crash_groups.id")),
    sa.Column("provider", sa.String(64)),
    sa.Column("model", sa.String(200)),
    sa.Column("request", sa.JSON),
    sa.Column("response", sa.JSON),
    sa.Column("input_tokens", sa.Integer),
    sa.Column("output_tokens", sa.Integer),
    sa.Column("cost", sa.Float),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("error", sa.Text),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False),  # build_log, patch, brief, ...
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("crash_groups.id")),
    sa.Column("name", sa.Text),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

# Local pull requests (the embedded default forge): a verified fix on its branch, awaiting review.
pull_requests = sa.Table(
    "pull_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("crash_groups.id"), nullable=False, index=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
    sa.Column("branch", sa.String(200), nullable=False),
    sa.Column("base", sa.String(200), nullable=False),
    sa.Column("head_sha", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | merged | rejected
    sa.Column("verification", sa.String(64)),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("merged_sha", sa.String(64)),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

# Files the watcher has already taken in, so a restart does not re-read an unchanged folder.
watched_files = sa.Table(
    "watched_files",
    metadata,
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64)),
    sa.Column("seen_at", TS, nullable=False),
)
