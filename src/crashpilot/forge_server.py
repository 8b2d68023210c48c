"""A loopback stand-in for the GitHub REST API, for tests (ours and users') of forge code.

:class:`FakeGitHub` serves, on 127.0.0.1, the part of GitHub's documented REST format that the
``github`` forge uses: ``GET /repos/{o}/{r}``, ``GET``/``POST /repos/{o}/{r}/pulls`` (``state``,
``head``, ``base`` filters, ``page``/``per_page`` with a ``Link`` header), ``GET
/repos/{o}/{r}/pulls/{n}``, ``/pulls/{n}/reviews``, ``/pulls/{n}/comments`` (review comments),
``GET /repos/{o}/{r}/issues/{n}`` and ``GET``/``POST /repos/{o}/{r}/issues/{n}/comments``.
Anything else answers 404 and is recorded like every request (merge attempts included), so a
test can assert what was never asked. Requests need ``Authorization: token|Bearer <token>``.

Faults are injected per method and path pattern: a status instead of the answer (``after=True``:
the request takes effect first, as when a proxy fails on the way back) and a delay (a slow answer).
Reviewers are simulated with :meth:`add_review`, :meth:`merge` and :meth:`close`. With a
``git_root`` the head sha of a new pull request is read from the bare repository
``<git_root>/<owner>/<name>.git`` and a branch that is not there is refused with 422, as GitHub does.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crashpilot.loopback import LoopbackServer

__all__ = ["FakeGitHub", "Fault", "Recorded"]

BOT = "crashpilot-bot"
_NOW = "2024-05-01T12:00:00Z"


@dataclass
class Fault:
    """Answer ``status`` (and/or wait ``delay`` seconds) for the next ``times`` matching requests."""

    method: str
    pattern: str  # a regular expression matched against the path (no query, no prefix)
    status: int | None = 502
    delay: float = 0.0
    times: int = 1
    after: bool = False  # apply the request first, then fail / delay the answer


@dataclass(frozen=True)
class Recorded:
    """One request as received (the Authorization header itself is never kept)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorized: bool
    status: int = 0


@dataclass
class _Repo:
    owner: str
    name: str
    default_branch: str
    clone_url: str
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    review_comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


class FakeGitHub(LoopbackServer):
    """The GitHub REST subset, in memory, on ``127.0.0.1:<free port>``; use as a context manager."""

    def __init__(self, token: str, *, prefix: str = "", git_root: Path | None = None) -> None:
        self.token = token
        self.prefix = prefix.rstrip("/")
        self.git_root = git_root
        self._pinned: set[tuple[str, int]] = set()  # pull requests whose head a test set by hand
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self._repos: dict[str, _Repo] = {}
        self._next_id = 1000
        self._lock = threading.RLock()
        super().__init__(_handler(self), name="fake-github")

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return self.base

    @property
    def url(self) -> str:
        """The API base URL (``base_url`` for PyGithub)."""
        return self.root + self.prefix

    # -- scenario -------------------------------------------------------------------------------

    def add_repo(self, owner: str, name: str, *, default_branch: str = "main", clone_url: str = "") -> None:
        with self._lock:
            self._repos[f"{owner}/{name}"] = _Repo(owner, name, default_branch, clone_url)

    def fail(
        self,
        method: str,
        pattern: str,
        *,
        status: int | None = 502,
        delay: float = 0.0,
        times: int = 1,
        after: bool = False,
    ) -> None:
        with self._lock:
            self.faults.append(Fault(method.upper(), pattern, status, delay, times, after))

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._repos[repo].pulls.values()]

    def merge(self, repo: str, number: int, sha: str = "") -> None:
        """What a maintainer's merge looks like through the API."""
        with self._lock:
            pull = self._repos[repo].pulls[number]
            pull.update(
                state="closed",
                merged=True,
                merged_at=_NOW,
                closed_at=_NOW,
                merge_commit_sha=sha or _sha(f"merge {repo} {number}"),
            )

    def close(self, repo: str, number: int) -> None:
        with self._lock:
            self._repos[repo].pulls[number].update(state="closed", merged=False, closed_at=_NOW)

    def set_head(self, repo: str, number: int, sha: str) -> None:
        """Pin the head sha of a pull request (it no longer follows its branch)."""
        with self._lock:
            self._repos[repo].pulls[number]["head"]["sha"] = sha
            self._pinned.add((repo, number))

    def add_review(
        self,
        repo: str,
        number: int,
        user: str,
        state: str,
        body: str = "",
        *,
        comments: Sequence[tuple[str, int, str]] = (),
        commit_id: str | None = None,
    ) -> int:
        """A submitted review (APPROVED, CHANGES_REQUESTED, COMMENTED) with inline comments (path, line, body)."""
        with self._lock:
            r = self._repos[repo]
            pull = r.pulls[number]
            review_id = self._id()
            commit = commit_id or pull["head"]["sha"]
            r.reviews.setdefault(number, []).append(
                {
                    "id": review_id,
                    "node_id": f"PRR_{review_id}",
                    "user": self._user(user),
                    "body": body,
                    "state": state,
                    "html_url": f"{pull['html_url']}#pullrequestreview-{review_id}",
                    "pull_request_url": pull["url"],
                    "commit_id": commit,
                    "submitted_at": _NOW,
                    "author_association": "MEMBER",
                }
            )
            for path, line, text in comments:
                cid = self._id()
                r.review_comments.setdefault(number, []).append(
                    {
                        "url": f"{self.url}/repos/{repo}/pulls/comments/{cid}",
                        "id": cid,
                        "node_id": f"PRRC_{cid}",
                        "pull_request_review_id": review_id,
                        "diff_hunk": "@@ -1 +1 @@",
                        "path": path,
                        "position": line,
                        "original_position": line,
                        "line": line,
                        "original_line": line,
                        "side": "RIGHT",
                        "commit_id": commit,
                        "original_commit_id": commit,
                        "user": self._user(user),
                        "body": text,
                        "created_at": _NOW,
                        "updated_at": _NOW,
                        "html_url": f"{pull['html_url']}#discussion_r{cid}",
                        "pull_request_url": pull["url"],
                        "author_association": "MEMBER",
                    }
                )
            return review_id

    def issue_comments(self, repo: str, number: int) -> list[str]:
        with self._lock:
            return [c["body"] for c in self._repos[repo].comments.get(number, [])]

    # -- JSON shapes ----------------------------------------------------------------------------

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _user(self, login: str) -> dict[str, Any]:
        uid = int(hashlib.sha1(login.encode()).hexdigest()[:6], 16)
        return {
            "login": login,
            "id": uid,
            "node_id": f"U_{uid}",
            "type": "User",
            "site_admin": False,
            "url": f"{self.url}/users/{login}",
            "html_url": f"{self.root}/{login}",
        }

    def _repo_json(self, r: _Repo) -> dict[str, Any]:
        full = f"{r.owner}/{r.name}"
        api = f"{self.url}/repos/{full}"
        return {
            "id": int(hashlib.sha1(full.encode()).hexdigest()[:6], 16),
            "node_id": f"R_{full}",
            "name": r.name,
            "full_name": full,
            "owner": self._user(r.owner),
            "private": False,
            "html_url": f"{self.root}/{full}",
            "url": api,
            "pulls_url": api + "/pulls{/number}",
            "clone_url": r.clone_url or f"{self.root}/{full}.git",
            "default_branch": r.default_branch,
            "fork": False,
            "archived": False,
            "disabled": False,
            "permissions": {"admin": False, "push": True, "pull": True},
        }

    def _branch_sha(self, r: _Repo, branch: str) -> str | None:
        if self.git_root is None:
            return _sha(f"{r.owner}/{r.name}:{branch}")
        bare = self.git_root / r.owner / f"{r.name}.git"
        res = subprocess.run(
            ["git", "--git-dir", str(bare), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return res.stdout.strip() if res.returncode == 0 else None

    def _refresh_head(self, r: _Repo, pull: dict[str, Any]) -> None:
        """An open pull request follows its branch: a push moves its head, as on GitHub."""
        if self.git_root is None or pull["state"] != "open":
            return
        if (f"{r.owner}/{r.name}", int(pull["number"])) in self._pinned:
            return
        sha = self._branch_sha(r, str(pull["head"]["ref"]))
        if sha:
            pull["head"]["sha"] = sha

    def _create_pull(self, r: _Repo, data: Any) -> tuple[int, Any]:
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("head", "base")):
            return 422, _invalid("head/base missing")
        head, base = str(data["head"]), str(data["base"])
        branch = head.split(":", 1)[1] if ":" in head else head
        if not isinstance(data.get("title"), str) or not data["title"]:
            return 422, _invalid("title missing", "title", "missing_field")
        for p in r.pulls.values():
            if p["state"] == "open" and p["head"]["ref"] == branch and p["base"]["ref"] == base:
                return 422, _invalid(f"A pull request already exists for {r.owner}:{branch}.", "", "custom")
        sha = self._branch_sha(r, branch)
        base_sha = self._branch_sha(r, base)
        if sha is None or base_sha is None:
            return 422, _invalid("head or base branch not found", "head", "invalid")
        if branch == base:
            return 422, _invalid(f"No commits between {base} and {branch}", "", "custom")
        number = len(r.pulls) + 1
        full = f"{r.owner}/{r.name}"
        api = f"{self.url}/repos/{full}"
        repo_json = self._repo_json(r)
        r.pulls[number] = {
            "url": f"{api}/pulls/{number}",
            "id": self._id(),
            "node_id": f"PR_{number}",
            "html_url": f"{self.root}/{full}/pull/{number}",
            "number": number,
            "state": "open",
            "locked": False,
            "title": data["title"],
            "body": data.get("body"),
            "user": self._user(BOT),
            "created_at": _NOW,
            "updated_at": _NOW,
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "draft": bool(data.get("draft", False)),
            "merged": False,
            "issue_url": f"{api}/issues/{number}",
            "comments_url": f"{api}/issues/{number}/comments",
            "review_comments_url": f"{api}/pulls/{number}/comments",
            "commits_url": f"{api}/pulls/{number}/commits",
            "head": {
                "label": f"{r.owner}:{branch}",
                "ref": branch,
                "sha": sha,
                "user": self._user(r.owner),
                "repo": repo_json,
            },
            "base": {
                "label": f"{r.owner}:{base}",
                "ref": base,
                "sha": base_sha,
                "user": self._user(r.owner),
                "repo": repo_json,
            },
            "maintainer_can_modify": bool(data.get("maintainer_can_modify", False)),
            "comments": 0,
            "review_comments": 0,
            "commits": 1,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        }
        return 201, r.pulls[number]

    def _issue(self, r: _Repo, n: int) -> dict[str, Any]:
        pull = r.pulls[n]
        api = f"{self.url}/repos/{r.owner}/{r.name}"
        return {
            "url": f"{api}/issues/{n}",
            "id": pull["id"],
            "node_id": f"I_{n}",
            "number": n,
            "title": pull["title"],
            "body": pull["body"],
            "state": pull["state"],
            "user": pull["user"],
            "html_url": pull["html_url"],
            "comments_url": f"{api}/issues/{n}/comments",
            "comments": len(r.comments.get(n, [])),
            "created_at": _NOW,
            "updated_at": _NOW,
            "closed_at": pull["closed_at"],
            "labels": [],
            "assignees": [],
            "locked": False,
            "pull_request": {"url": pull["url"], "html_url": pull["html_url"]},
        }

    def _comment(self, r: _Repo, n: int, data: Any) -> tuple[int, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("body"), str):
            return 422, _invalid("body missing", "body", "missing_field")
        cid = self._id()
        api = f"{self.url}/repos/{r.owner}/{r.name}"
        item = {
            "id": cid,
            "node_id": f"IC_{cid}",
            "url": f"{api}/issues/comments/{cid}",
            "html_url": f"{r.pulls[n]['html_url']}#issuecomment-{cid}",
            "body": data["body"],
            "user": self._user(BOT),
            "created_at": _NOW,
            "updated_at": _NOW,
            "issue_url": f"{api}/issues/{n}",
            "author_association": "NONE",
        }
        r.comments.setdefault(n, []).append(item)
        return 201, item

    # -- routing --------------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: dict[str, str], data: Any
    ) -> tuple[int, Any, dict[str, str]]:
        """The (status, JSON, extra headers) GitHub would give; called by the request handler."""
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        with self._lock:
            r = self._repos.get(f"{m.group(1)}/{m.group(2)}") if m else None
            if m is None or r is None:
                return 404, _not_found(), {}
            rest = m.group(3) or ""
            if method == "GET" and rest == "":
                return 200, self._repo_json(r), {}
            if rest == "/pulls" and method == "POST":
                status, body = self._create_pull(r, data)
                return status, body, {}
            if rest == "/pulls" and method == "GET":
                return self._list_pulls(r, path, query)
            n_match = re.fullmatch(r"/(pulls|issues)/(\d+)(/\w+)?", rest)
            if n_match is None or int(n_match.group(2)) not in r.pulls:
                return 404, _not_found(), {}
            kind, n, sub = n_match.group(1), int(n_match.group(2)), n_match.group(3) or ""
            if method == "GET" and kind == "pulls" and sub == "":
                self._refresh_head(r, r.pulls[n])
                return 200, r.pulls[n], {}
            if method == "GET" and kind == "pulls" and sub == "/reviews":
                return 200, r.reviews.get(n, []), {}
            if method == "GET" and kind == "pulls" and sub == "/comments":
                return 200, r.review_comments.get(n, []), {}
            if method == "GET" and kind == "issues" and sub == "":
                return 200, self._issue(r, n), {}
            if kind == "issues" and sub == "/comments":
                if method == "GET":
                    return 200, r.comments.get(n, []), {}
                if method == "POST":
                    status, body = self._comment(r, n, data)
                    return status, body, {}
            return 404, _not_found(), {}

    def _list_pulls(self, r: _Repo, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", "open")
        items = [p for p in r.pulls.values() if state == "all" or p["state"] == state]
        for p in items:
            self._refresh_head(r, p)
        if "head" in query:
            items = [p for p in items if p["head"]["label"] == query["head"]]
        if "base" in query:
            items = [p for p in items if p["base"]["ref"] == query["base"]]
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if page * per_page < len(items):
            rest = "&".join(f"{k}={v}" for k, v in query.items() if k != "page")
            headers["Link"] = f'<{self.url}{path}?{rest}&page={page + 1}>; rel="next"'
        return 200, [{k: v for k, v in p.items() if k != "merged"} for p in chunk], headers

    def _fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and re.fullmatch(fault.pattern, path):
                    fault.times -= 1
                    return fault
        return None


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _not_found() -> dict[str, str]:
    return {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


def _invalid(message: str, fieldname: str = "head", code: str = "invalid") -> dict[str, Any]:
    error = {"resource": "PullRequest", "code": code, "field": fieldname, "message": message}
    return {
        "message": "Validation Failed",
        "errors": [error],
        "documentation_url": "https://docs.github.com/rest",
    }


def _handler(app: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            if app.prefix and path.startswith(app.prefix):
                path = path[len(app.prefix) :]
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            auth = self.headers.get("Authorization", "")
            ok = auth in (f"token {app.token}", f"Bearer {app.token}")
            fault = app._fault(self.command, path)
            status: int
            body: Any
            headers: dict[str, str]
            if not ok:
                status, body, headers = 401, {"message": "Bad credentials"}, {}
            elif fault is not None and not fault.after and fault.status is not None:
                status, body, headers = fault.status, {"message": "Server Error"}, {}
            else:
                if fault is not None and not fault.after and fault.delay:
                    app._stopping.wait(fault.delay)
                status, body, headers = app.answer(self.command, path, query, data)
                if fault is not None and fault.after:
                    if fault.delay:
                        app._stopping.wait(fault.delay)
                    if fault.status is not None:
                        status, body, headers = fault.status, {"message": "Server Error"}, {}
            with app._lock:
                app.requests.append(Recorded(self.command, path, query, data, ok, status))
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler
