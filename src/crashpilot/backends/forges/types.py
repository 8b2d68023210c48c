"""What every forge speaks: a pull request, its state, and the reviewers' feedback.

Plain frozen dataclasses (importing this module loads no SDK), shared by the ``github`` backend,
the ``local`` one and any third-party forge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Feedback", "PullRequest", "PullRequestState", "PRStatus"]

PRStatus = Literal["open", "merged", "closed"]


@dataclass(frozen=True)
class PullRequest:
    """A pull request as the forge knows it; ``number`` is what later calls need."""

    number: int
    url: str  # where a human reads it (html_url on GitHub)
    branch: str  # head branch, ``crashpilot/<group-id>``
    base: str
    head_sha: str = ""
    title: str = ""


@dataclass(frozen=True)
class Feedback:
    """One piece of review text: a review's body or one of its inline comments. Untrusted text."""

    id: int
    author: str
    body: str
    kind: Literal["review", "inline"]
    path: str | None = None
    line: int | None = None
    commit_sha: str | None = None
    created_at: str | None = None


@dataclass(frozen=True)
class PullRequestState:
    """Where a pull request stands.

    ``changes_requested`` is true when some reviewer's latest deciding review asks for changes on
    the current head commit (a request about an older head was answered by a later push).
    ``feedback`` holds those reviews' bodies and inline comments, oldest first.
    """

    status: PRStatus
    changes_requested: bool = False
    feedback: tuple[Feedback, ...] = ()
    head_sha: str = ""
    merged_sha: str | None = None
    approved_by: tuple[str, ...] = ()
