"""The ``github`` forge: GitHub (or GitHub Enterprise) through its REST API with PyGithub.

Every retry is ours and counted (PyGithub's own retry is switched off: it would repeat a
``POST /pulls`` blindly). Before a pull request is created again after a 5xx or a timeout, the
open pull request for the branch is looked up, so a request that succeeded on the server but
failed on the way back never makes a second one. Pushes go through ``git push`` with the token
in an ``http.<origin>.extraHeader`` given through the environment (``GIT_CONFIG_*``): never in a
URL, ``.git/config``, the command line, a log line or an error message. Nothing here merges, and
no method writes the base branch or the repository's default branch.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from crashpilot.backends.forges.types import Feedback, PRStatus, PullRequest, PullRequestState
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.errors import (
    BackendError,
    CommandFailed,
    ConfigError,
    PermanentError,
    PolicyViolation,
    TransientError,
)
from crashpilot.git import Git
from crashpilot.log import RedactFilter

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["GitHubForge"]

DEFAULT_BASE_URL = "https://api.github.com"
_DECIDING = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")
_GIT_TRANSIENT = (
    "returned error: 5",
    "could not resolve host",
    "connection refused",
    "connection timed out",
    "operation timed out",
    "failed to connect",
    "empty reply from server",
    "rpc failed",
    "the remote end hung up unexpectedly",
)


class GitHubForge:
    """Pull requests on ``repo`` (``owner/name``) at ``base_url``; satisfies ``crashpilot.protocols.Forge``.

    ``token`` is given by the caller (the CLI reads ``GITHUB_TOKEN``). ``push_url`` defaults to
    the repository's ``clone_url`` as the API reports it. ``retry`` bounds retries of 5xx, 429 and
    timeouts; :attr:`retries` counts the retries made.
    """

    name = "github"

    def __init__(
        self,
        repo: str,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        push_url: str | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
        git_timeout: float = 300.0,
    ) -> None:
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise ConfigError(f"forge.repo must be owner/name, not {repo!r}")
        if not token:
            raise ConfigError("the GitHub forge needs a token (GITHUB_TOKEN)")
        if push_url is not None:
            _check_push_url(push_url)
        from github import Auth, Github

        self.repo_name = repo
        self.owner = owner
        self.push_url = push_url
        self.git_timeout = git_timeout
        self.policy = (
            retry if retry is not None else RetryPolicy(max_retries=4, base_delay=2.0, max_delay=30.0)
        )
        self.retries = 0
        self._token = token
        self._redactor = RedactFilter([token])
        self._gh = Github(
            base_url=base_url.rstrip("/"),
            auth=Auth.Token(token),
            timeout=max(1, math.ceil(timeout)),
            retry=None,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
            user_agent="crashpilot",
        )
        self._repo: Any = None

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connections."""
        self._gh.close()

    def __enter__(self) -> GitHubForge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GitHubForge(repo={self.repo_name!r})"

    # -- the Forge protocol ---------------------------------------------------------------------

    def push(self, worktree: Path, branch: str, base: str) -> str:
        """Push ``branch`` (forced: it is ours) to the remote; returns its sha. Refuses protected branches."""
        self._refuse_protected(branch, base)
        git = Git(worktree, timeout=self.git_timeout)
        sha = git.rev_parse(f"refs/heads/{branch}")
        url = self.push_url or str(self._call("read the repository", lambda: self._get_repo().clone_url))
        _check_push_url(url)
        env = _push_env(url, self._token)
        refspec = f"+refs/heads/{branch}:refs/heads/{branch}"

        def attempt() -> None:
            try:
                git.run("push", "--porcelain", "--no-verify", url, refspec, extra_env=env)
            except CommandFailed as exc:
                raise self._git_error(exc) from None

        self._call(f"push {branch}", attempt)
        log.info("pushed %s (%s) to %s", branch, sha[:12], self.repo_name)
        return sha

    def find_pr(self, branch: str) -> PullRequest | None:
        """The open pull request whose head is ``branch`` in this repository, or None."""
        head = f"{self.owner}:{branch}"

        def look() -> PullRequest | None:
            for pull in self._get_repo().get_pulls(state="open", head=head):
                if pull.head.ref == branch:
                    return _pull_request(pull)
            return None

        return self._call(f"find the pull request of {branch}", look)

    def open_pr(self, branch: str, base: str, title: str, body: str) -> PullRequest:
        """The open pull request for ``branch``: found again if it exists, else created once."""
        from github import GithubException

        self._refuse_protected(branch, base)
        existing = self.find_pr(branch)
        if existing is not None:
            log.info("pull request #%d for %s already open", existing.number, branch)
            return existing
        title = self._redactor.redact(title)
        body = self._redactor.redact(body)
        tries = 0
        while True:
            try:
                pull = self._get_repo().create_pull(base=base, head=branch, title=title, body=body)
                pr = _pull_request(pull)
                log.info("opened pull request #%d for %s", pr.number, branch)
                return pr
            except Exception as exc:  # noqa: BLE001 - translated below
                if (
                    isinstance(exc, GithubException)
                    and exc.status == 422
                    and "already exists" in str(exc.data)
                ):
                    found = self.find_pr(branch)
                    if found is not None:
                        return found
                error = self._translate(exc, f"open a pull request for {branch}")
                if not isinstance(error, TransientError) or tries >= self.policy.max_retries:
                    raise error from exc
                tries += 1
                self._wait(tries, error)
                found = self.find_pr(branch)  # the failed POST may have worked on the server
                if found is not None:
                    log.info(
                        "pull request #%d for %s was created by the failed request", found.number, branch
                    )
                    return found

    def pr_state(self, pr: PullRequest) -> PullRequestState:
        """open / merged / closed; changes requested on the current head, with the reviewers' text."""

        def read() -> PullRequestState:
            pull = self._get_repo().get_pull(pr.number)
            status: PRStatus = "merged" if pull.merged else ("closed" if pull.state == "closed" else "open")
            head = str(pull.head.sha)
            latest: dict[str, Any] = {}
            for review in pull.get_reviews():
                if review.state in _DECIDING and review.user is not None:
                    latest[review.user.login] = review
            asking = [r for r in latest.values() if r.state == "CHANGES_REQUESTED" and r.commit_id == head]
            feedback = _feedback(pull, asking) if asking and status == "open" else ()
            approved = tuple(sorted(u for u, r in latest.items() if r.state == "APPROVED"))
            return PullRequestState(
                status=status,
                changes_requested=bool(asking) and status == "open",
                feedback=feedback,
                head_sha=head,
                merged_sha=str(pull.merge_commit_sha)
                if status == "merged" and pull.merge_commit_sha
                else None,
                approved_by=approved,
            )

        return self._call(f"read pull request #{pr.number}", read)

    def comment(self, pr: PullRequest, text: str) -> None:
        """Add a conversation comment (redacted); a retry after a failed POST does not post it twice."""
        body = self._redactor.redact(text)
        posted = False

        def post() -> None:
            nonlocal posted
            issue = self._get_repo().get_issue(pr.number)
            if posted and any(c.body == body for c in issue.get_comments()):
                return  # the failed request had landed
            posted = True
            issue.create_comment(body)

        self._call(f"comment on pull request #{pr.number}", post)

    # -- helpers --------------------------------------------------------------------------------

    def _get_repo(self) -> Any:
        if self._repo is None:
            self._repo = self._gh.get_repo(self.repo_name)
        return self._repo

    def _refuse_protected(self, branch: str, base: str) -> None:
        if branch in (base, f"refs/heads/{base}"):
            raise PolicyViolation(f"refusing to push or open a pull request from the base branch {branch!r}")
        default = str(self._call("read the repository", lambda: self._get_repo().default_branch))
        protected = {default, f"refs/heads/{default}"}
        if not branch or branch in protected:
            raise PolicyViolation(f"refusing to push or open a pull request from protected branch {branch!r}")

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        tries = 0
        while True:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - translated below
                error = self._translate(exc, what)
                if not isinstance(error, TransientError) or tries >= self.policy.max_retries:
                    raise error from exc
                tries += 1
                self._wait(tries, error)

    def _wait(self, tries: int, error: BackendError) -> None:
        self.retries += 1
        delay = self.policy.delay(tries)
        log.warning("%s; retry %d/%d in %.1fs", error, tries, self.policy.max_retries, delay)
        self.policy.sleep(delay)

    def _translate(self, exc: Exception, what: str) -> BackendError:
        import requests
        from github import GithubException, RateLimitExceededException

        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError):
            kind = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "could not connect"
            return TransientError(f"github: {what}: {kind}")
        if isinstance(exc, GithubException):
            message = ""
            if isinstance(exc.data, dict):
                message = str(exc.data.get("message", ""))[:300]
            text = self._redactor.redact(f"github: {what}: HTTP {exc.status} {message}".rstrip())
            if isinstance(exc, RateLimitExceededException) or exc.status == 429 or exc.status >= 500:
                return TransientError(text)
            return PermanentError(text)
        return PermanentError(self._redactor.redact(f"github: {what}: {type(exc).__name__}: {exc}"[:500]))

    def _git_error(self, exc: CommandFailed) -> BackendError:
        tail = self._redactor.redact(exc.output[-600:].strip())
        text = f"github: git push failed ({exc.returncode}): {tail}"
        if exc.returncode is None or any(s in tail.lower() for s in _GIT_TRANSIENT):
            return TransientError(text)
        return PermanentError(text)


def _feedback(pull: Any, asking: list[Any]) -> tuple[Feedback, ...]:
    """The bodies of the reviews in ``asking`` and their inline comments, in the API's order."""
    out = [
        Feedback(
            r.id, r.user.login, r.body, "review", commit_sha=r.commit_id, created_at=_iso(r.submitted_at)
        )
        for r in asking
        if r.body
    ]
    ids = {r.id for r in asking}
    for c in pull.get_review_comments():
        if c.pull_request_review_id in ids:
            author = c.user.login if c.user else ""
            out.append(
                Feedback(
                    c.id,
                    author,
                    c.body,
                    "inline",
                    path=c.path,
                    line=c.line,
                    commit_sha=c.commit_id,
                    created_at=_iso(c.created_at),
                )
            )
    return tuple(out)


def _pull_request(pull: Any) -> PullRequest:
    return PullRequest(
        number=int(pull.number),
        url=str(pull.html_url),
        branch=str(pull.head.ref),
        base=str(pull.base.ref),
        head_sha=str(pull.head.sha or ""),
        title=str(pull.title or ""),
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _check_push_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        if parts.username or parts.password:
            raise ConfigError("forge.push_url must not hold credentials; the token is sent in a header")
        return
    raise ConfigError(f"forge.push_url must be an http(s) URL, not {parts.scheme or url!r}")


def _push_env(url: str, token: str) -> dict[str, str]:
    """Environment for ``git push``: the token as an extra header scoped to the remote's origin."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}/"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": f"http.{origin}.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_CONFIG_KEY_1": "credential.helper",
        "GIT_CONFIG_VALUE_1": "",
    }
