"""crashpilot: from a C/C++ crash to a review-ready pull request."""

from crashpilot.errors import (
    CommandFailed,
    ConfigError,
    CrashpilotError,
    ParseError,
    PolicyViolation,
)
from crashpilot.models import CrashReport, Frame, Thread

__version__ = "0.1.0"

__all__ = [
    "CommandFailed",
    "ConfigError",
    "CrashReport",
    "CrashpilotError",
    "Frame",
    "ParseError",
    "PolicyViolation",
    "Thread",
    "__version__",
]
