"""Turn the bytes a user gives us into clean text: encodings, BOMs, CRLF, ANSI colours."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_LINE_CHARS = str.maketrans("", "", "\n\r\t")


def decode(data: bytes) -> str:
    """Decode UTF-8 / UTF-16 (with or without BOM) / Latin-1 crash text."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    head = data[:4096]
    if len(head) >= 4 and head.count(b"\x00") > len(head) // 4:
        # UTF-16 without BOM: every other byte is zero for ASCII text.
        even_zero = head[0::2].count(0)
        odd_zero = head[1::2].count(0)
        enc = "utf-16-le" if odd_zero > even_zero else "utf-16-be"
        return data.decode(enc, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def clean(text: str) -> str:
    """Normalize line ends and drop ANSI escape codes and NULs."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def looks_binary(data: bytes) -> bool:
    """True for data that is not text in any encoding we read."""
    head = data[:8192]
    if not head:
        return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False
    if head.count(b"\x00") > len(head) // 4:
        # could be UTF-16 without BOM: check it decodes to mostly printable text
        text = decode(head)
    else:
        if b"\x00" in head:
            return True
        text = head.decode("utf-8", errors="replace")
    if text.translate(_LINE_CHARS).isprintable():
        return False  # fast path: every character is printable or a line/tab character
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    return printable < 0.9 * max(len(text), 1)
