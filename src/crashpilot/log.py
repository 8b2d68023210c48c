"""One logging configuration: a log file in the home folder, console output for `run`.

Secrets never reach a log: a filter masks values of configured secret environment variables and
anything shaped like a bearer token or API key.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
from collections.abc import Iterable
from pathlib import Path

_KEY_SHAPES = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{16,})"
)


class RedactFilter(logging.Filter):
    """Replaces secrets in log records by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _KEY_SHAPES.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for services."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("group", "run", "stage", "job", "report"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def close_handlers(logger: logging.Logger) -> None:
    """Remove and close the logger's handlers (an open log file must not outlive its config)."""
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def configure(
    home: Path | None,
    level: str = "INFO",
    console: bool = False,
    json_lines: bool = False,
    secrets: Iterable[str] = (),
) -> Path | None:
    """Set up the root ``crashpilot`` logger; returns the log file path (None without a home)."""
    root = logging.getLogger("crashpilot")
    close_handlers(root)
    root.setLevel(logging.DEBUG)
    root.propagate = False
    redact = RedactFilter(secrets)
    log_path = None
    if home is not None:
        log_dir = home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / "crashpilot.log"
        fh = logging.handlers.RotatingFileHandler(log_path, maxBytes=10 * 1024 * 1024, backupCount=3, encoding="utf-8")
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh.addFilter(redact)
        root.addHandler(fh)
    if console:
        ch = logging.StreamHandler()
        ch.setLevel(getattr(logging, level.upper(), logging.INFO))
        ch.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
        ch.addFilter(redact)
        root.addHandler(ch)
    return log_path
