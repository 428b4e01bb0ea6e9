"""Reddit on loopback: the OAuth token endpoint, listings paged with ``before``/``limit`` (newest first),
``/api/info``, ``/api/comment`` (answers in ``{"json": {"errors", "data"}}``), the account's comments, and
``X-Ratelimit-Used/Remaining/Reset`` on every API answer."""

from __future__ import annotations

import base64
import itertools
import re
import time
from typing import Any

import numpy as np

from testkit.platforms import Answer, PlatformServer, Request

RATE = {"x-ratelimit-used": "1", "x-ratelimit-remaining": "599.0", "x-ratelimit-reset": "300"}


def base36(n: int) -> str:
    return str(np.base_repr(n, 36)).lower()


class RedditServer(PlatformServer):
    def __init__(self, username: str = "lumen_support", password: str = "hunter2", client_id: str = "cid-123",
                 client_secret: str = "csecret-456") -> None:
        super().__init__()
        self.username, self.password, self.client_id, self.client_secret = username, password, client_id, client_secret
        self.token = "rtok-" + base36(int(time.time()))
        self.things: dict[str, dict[str, Any]] = {}  # fullname -> data
        self.deleted: set[str] = set()
        self._ids = itertools.count(10_000)
        self._clock = 0.0
        self.route("POST", r"/api/v1/access_token", self._token)
        self.route("GET", r"/r/(\w+)/(comments|new)", self._subreddit)
        self.route("GET", r"/r/(\w+)/about", self._about)
        self.route("GET", r"/message/inbox", self._inbox)
        self.route("GET", r"/message/sent", self._sent)
        self.route("GET", r"/api/info", self._info)
        self.route("POST", r"/api/comment", self._comment)
        self.route("GET", r"/user/(\w+)/comments", self._user_comments)
        self.route("GET", r"/api/v1/me", self._me)

    # -- state ----------------------------------------------------------------------------------------
    def _thing(self, kind: str, **data: Any) -> dict[str, Any]:
        with self.lock:
            short = base36(next(self._ids))
            self._clock = max(self._clock + 1.0, float(int(time.time())))
            row = {"id": short, "name": f"{kind}_{short}", "created_utc": self._clock, **data}
            row["permalink"] = f"/r/{data.get('subreddit', 'x')}/comments/{short}/"
            self.things[row["name"]] = row
            return row

    def post(self, subreddit: str, title: str, selftext: str = "", author: str = "dana_rides") -> dict[str, Any]:
        return self._thing("t3", subreddit=subreddit, title=title, selftext=selftext, author=author,
                           author_fullname=f"t2_{author}")

    def comment(self, parent: dict[str, Any], body: str, author: str = "dana_rides",
                inbox: bool = False) -> dict[str, Any]:
        link_id = parent["name"] if parent["name"].startswith("t3_") else parent["link_id"]
        return self._thing("t1", subreddit=parent["subreddit"], body=body, author=author,
                           author_fullname=f"t2_{author}", parent_id=parent["name"], link_id=link_id,
                           inbox=inbox, was_comment=True)

    def private_message(self, body: str, author: str = "dana_rides", subject: str = "Order") -> dict[str, Any]:
        """A private message to the account (it lands in the inbox)."""
        return self._thing("t4", subreddit="", body=body, author=author, subject=subject, dest=self.username,
                           inbox=True, was_comment=False, parent_id=None, first_message_name=None)

    def replies_to(self, fullname: str) -> list[dict[str, Any]]:
        with self.lock:
            return [t for t in self.things.values() if t.get("parent_id") == fullname and t["author"] == self.username]

    # -- the API --------------------------------------------------------------------------------------
    def _auth(self, request: Request) -> Answer | None:
        if request.headers.get("authorization") != f"bearer {self.token}":
            return 401, {"www-authenticate": 'Bearer realm="reddit"'}, {"message": "Unauthorized", "error": 401}
        if not request.headers.get("user-agent"):
            return 429, {}, {"message": "Too Many Requests", "error": 429}
        return None

    def _token(self, request: Request, _match: re.Match[str]) -> Answer:
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = request.form()
        if request.headers.get("authorization") != expected:
            return 401, {}, {"message": "Unauthorized", "error": 401}
        if form.get("grant_type") != "password" or form.get("password") != self.password:
            return 200, {}, {"error": "invalid_grant"}
        return 200, {}, {"access_token": self.token, "token_type": "bearer", "expires_in": 86400, "scope": "*"}

    def _listing(self, request: Request, items: list[dict[str, Any]]) -> Answer:
        refused = self._auth(request)
        if refused:
            return refused
        items = sorted(items, key=lambda t: t["created_utc"], reverse=True)  # newest first
        limit = int(request.arg("limit") or 25)
        before = request.arg("before")
        if before:
            names = [t["name"] for t in items]
            if before not in names:
                page: list[dict[str, Any]] = []
            else:
                at = names.index(before)
                page = items[max(0, at - limit):at]
        else:
            page = items[:limit]
        children = [{"kind": t["name"][:2], "data": t} for t in page]
        return 200, dict(RATE), {"kind": "Listing", "data": {
            "children": children, "before": children[0]["data"]["name"] if children else None,
            "after": children[-1]["data"]["name"] if children else None}}

    def _visible(self) -> list[dict[str, Any]]:
        return [t for t in self.things.values() if t["name"] not in self.deleted]

    def _subreddit(self, request: Request, match: re.Match[str]) -> Answer:
        kind = "t1" if match.group(2) == "comments" else "t3"
        return self._listing(request, [t for t in self._visible() if t["subreddit"] == match.group(1)
                                       and t["name"].startswith(kind)])

    def _inbox(self, request: Request, _match: re.Match[str]) -> Answer:
        return self._listing(request, [t for t in self._visible() if t.get("inbox")])

    def _sent(self, request: Request, _match: re.Match[str]) -> Answer:
        return self._listing(request, [t for t in self._visible() if t["name"].startswith("t4")
                                       and t["author"] == self.username])

    def _user_comments(self, request: Request, match: re.Match[str]) -> Answer:
        return self._listing(request, [t for t in self._visible() if t["author"] == match.group(1)
                                       and t["name"].startswith("t1")])

    def _info(self, request: Request, _match: re.Match[str]) -> Answer:
        wanted = (request.arg("id") or "").split(",")
        return self._listing(request, [t for t in self._visible() if t["name"] in wanted])

    def _about(self, request: Request, match: re.Match[str]) -> Answer:
        return 200, dict(RATE), {"kind": "t5", "data": {"display_name": match.group(1)}}

    def _me(self, request: Request, _match: re.Match[str]) -> Answer:
        refused = self._auth(request)
        return refused or (200, dict(RATE), {"name": self.username})

    def _comment(self, request: Request, _match: re.Match[str]) -> Answer:
        refused = self._auth(request)
        if refused:
            return refused
        form = request.form()
        parent = self.things.get(form.get("thing_id", ""))
        if parent is None or parent["name"] in self.deleted:
            return 200, dict(RATE), {"json": {"errors": [["DELETED_COMMENT", "that comment has been deleted",
                                                          "parent"]]}}
        if parent["name"].startswith("t4_"):  # a reply to a private message is a private message
            row = self._thing("t4", subreddit="", body=form.get("text", ""), author=self.username,
                              dest=parent["author"], parent_id=parent["name"], inbox=False,
                              first_message_name=parent.get("first_message_name") or parent["name"])
        else:
            row = self.comment(parent, form.get("text", ""), author=self.username)
        return 200, dict(RATE), {"json": {"errors": [], "data": {"things": [{"kind": row["name"][:2], "data": row}]}}}
