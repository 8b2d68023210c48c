"""Intake limits and the text / dump decision.

A crash text is refused (quarantined) above ``text_max_bytes``; a dump (minidump, core file)
above ``dump_max_bytes``. Real TrinityCore Wheaty logs reach 6 MB, hence the 16 MB default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crashpilot.errors import ConfigError

Kind = Literal["text", "dump"]

MB = 1024 * 1024

# Magic numbers of dump files: Windows minidump, ELF core, Mach-O core (both endians, 32/64).
_DUMP_MAGIC = (
    b"MDMP",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
)
DUMP_SUFFIXES = (".dmp", ".mdmp", ".core")


@dataclass(frozen=True)
class Limits:
    """Size limits per kind of input, in bytes."""

    text_max_bytes: int = 16 * MB
    dump_max_bytes: int = 512 * MB

    def __post_init__(self) -> None:
        if self.text_max_bytes <= 0 or self.dump_max_bytes <= 0:
            raise ConfigError("ingest limits must be positive byte counts")

    def max_bytes(self, kind: Kind) -> int:
        return self.dump_max_bytes if kind == "dump" else self.text_max_bytes


def is_dump_name(filename: str | None) -> bool:
    if not filename:
        return False
    name = filename.lower()
    return name.endswith(DUMP_SUFFIXES) or name == "core" or name.startswith("core.")


def sniff_kind(head: bytes, filename: str | None = None) -> Kind:
    """'dump' for a minidump / core file (by magic number or file name), else 'text'."""
    if head.startswith(_DUMP_MAGIC):
        return "dump"
    if is_dump_name(filename) and not head.startswith(b"\xef\xbb\xbf") and _mostly_binary(head):
        return "dump"
    if filename and filename.lower().endswith((".dmp", ".mdmp")):
        return "dump"
    return "text"


def _mostly_binary(head: bytes) -> bool:
    sample = head[:4096]
    return bool(sample) and b"\x00" in sample


DEFAULT_LIMITS = Limits()
