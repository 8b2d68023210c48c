"""Backends: the outside world behind the Protocols in ``crashpilot.protocols``.

Each kind lives in its own sub-package (``models``, later ``agents``, ``forges``, ``notifiers``)
and registers through an entry-point group (``crashpilot.models`` ...), so a third party adds a
backend without touching crashpilot. Importing this package imports no SDK.
"""

from __future__ import annotations

__all__: list[str] = []
