"""Reddit: polls chosen subreddits' new comments and posts and the account's inbox (comment replies,
username mentions, private messages) with a cursor per stream; replies as comments, and to a private
message privately (both ``POST /api/comment`` with the parent's fullname).

OAuth2 as Reddit documents it: a "script" app (password grant) or an installed/web app's refresh token,
exchanged at ``/api/v1/access_token`` for a bearer token used on ``oauth.reddit.com``. Listings are read with
``before=<fullname>`` (the items just newer than the cursor, newest first) and taken oldest first; the cursor
moves after each stored item, so a poller killed mid-page resumes where it stopped. ``X-Ratelimit-Remaining``
/ ``X-Ratelimit-Reset`` pace the calls; a 429 waits for the reset.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from connectors.base import Capabilities, Check, Inbound, Intake, PlatformConnector, best_effort, same_text
from connectors.cursors import load_cursor, save_cursor
from connectors.http import PlatformHttp, header_seconds, json_reason
from connectors.submit import accept
from desk.inbound import MessageCreate
from desk.platforms import PlatformDeferred, PlatformRefused, PlatformReply

log = logging.getLogger("replydesk.connectors.reddit")
OAUTH, WWW = "https://oauth.reddit.com", "https://www.reddit.com"
PAGE = 100
_WAIT = re.compile(r"(\d+)\s*(second|minute)")


def _rate_wait(response: httpx.Response) -> float | None:
    if response.status_code != 429:
        return None
    return header_seconds(response, "x-ratelimit-reset", "retry-after") or 1.0


def _budget(response: httpx.Response) -> float:
    remaining = header_seconds(response, "x-ratelimit-remaining")
    if remaining is not None and remaining < 1:
        return header_seconds(response, "x-ratelimit-reset") or 1.0
    return 0.0


class RedditConnector(PlatformConnector):
    platform = "reddit"
    capabilities = Capabilities(intake="pull", dm=True, thread_context=True,
                                rate_limits="X-Ratelimit-Remaining/Reset, 429, RATELIMIT errors",
                                max_reply_chars=10_000)
    config_keys = {"username": "the Reddit account replies are posted as"}
    optional_keys = {"subreddits": "subreddits to watch (names without r/)",
                     "inbox": "read the inbox's comment replies and mentions (default true)",
                     "backfill": "items to take from each stream the first time (default 0: from now on)",
                     "user_agent": "the User-Agent Reddit asks for", "oauth_url": f"default {OAUTH}",
                     "www_url": f"the token endpoint's site (default {WWW})"}
    secret_keys = {"client_id": "the app's client id", "client_secret": "the app's secret"}
    optional_secrets = {"password": "the account's password (script app)",
                        "refresh_token": "a refresh token with identity, read, submit, privatemessages"}

    def make_http(self) -> PlatformHttp:
        agent = str(self.config.get("user_agent") or f"replydesk:connector:v1 (by /u/{self.config['username']})")
        self._token: str | None = None
        self._titles: dict[str, dict[str, str]] = {}
        return PlatformHttp(self.settings, str(self.config.get("oauth_url") or OAUTH), platform=self.platform,
                            rate_wait=_rate_wait, budget=_budget, reason=json_reason("message", "error"),
                            headers={"User-Agent": agent})

    @property
    def me(self) -> str:
        return str(self.config["username"])

    # -- OAuth ----------------------------------------------------------------------------------------
    def _authenticate(self) -> None:
        if "refresh_token" in self.secrets:
            form = {"grant_type": "refresh_token", "refresh_token": self.secrets.get("refresh_token")}
        else:
            form = {"grant_type": "password", "username": self.me, "password": self.secrets.get("password")}
        www = str(self.config.get("www_url") or WWW).rstrip("/")
        answer = self.http.call("POST", f"{www}/api/v1/access_token", data=form,
                                auth=(self.secrets.get("client_id"), self.secrets.get("client_secret")),
                                allow=(400, 401, 403))
        body = answer.json() if answer.status_code == 200 else {}
        if "access_token" not in body:
            raise PlatformRefused(f"Reddit refused the credentials: {body.get('error') or answer.status_code}")
        self._token = str(body["access_token"])
        self.scopes = set(str(body.get("scope", "")).split())
        self.http.client.headers["Authorization"] = f"bearer {self._token}"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._token is None:
            self._authenticate()
        allow = tuple(kwargs.pop("allow", ()))
        answer = self.http.call(method, path, allow=(*allow, 401), **kwargs)
        if answer.status_code == 401:  # the token expired: one new token, one retry
            self._authenticate()
            answer = self.http.call(method, path, allow=allow, **kwargs)
        return answer

    # -- intake ---------------------------------------------------------------------------------------
    def streams(self) -> list[tuple[str, str]]:
        found = []
        for sub in self.config.get("subreddits") or []:
            found += [(f"r/{sub}/comments", f"/r/{sub}/comments"), (f"r/{sub}/new", f"/r/{sub}/new")]
        if self.config.get("inbox", True):
            found.append(("inbox", "/message/inbox"))
        return found

    def _listing(self, path: str, **params: Any) -> list[dict[str, Any]]:
        body = self.api("GET", path, params={"raw_json": 1, **params}).json()
        return [c for c in (body.get("data") or {}).get("children", []) if isinstance(c, dict)]

    def _newer(self, path: str, cursor: str) -> Iterator[dict[str, Any]]:
        """Items newer than ``cursor``, oldest first, a page at a time."""
        name, _, created = cursor.partition("@")
        while True:
            if not name:  # the stream was empty when we started: all it holds now is new
                page = self._listing(path, limit=PAGE)
                yield from reversed(page)
                return
            page = self._listing(path, before=name, limit=PAGE)
            if not page and created:
                # ``before`` answers nothing when its item was deleted: fall back to the newest page and
                # take what is newer than the cursor's time (the store dedupes what was taken already).
                newest = self._listing(path, limit=PAGE)
                page = [c for c in newest if float(c["data"].get("created_utc") or 0) >= float(created)
                        and c["data"].get("name") != name]
                yield from reversed(page)
                return
            yield from reversed(page)
            if len(page) < PAGE:
                return
            name = str(page[0]["data"]["name"])
            created = ""

    def poll(self, engine: Engine) -> Intake:
        """One pass over every stream; the cursor is saved after each item, so a kill loses nothing."""
        intake = Intake()
        for stream, path in self.streams():
            cursor = load_cursor(engine, self.row.id or 0, stream)
            if cursor is None:
                backfill = int(self.config.get("backfill") or 0)
                first = self._listing(path, limit=max(1, min(backfill, PAGE)))
                if not first:
                    save_cursor(engine, self.row.id or 0, stream, "@0")  # empty: everything later is new
                    continue
                if not backfill:
                    save_cursor(engine, self.row.id or 0, stream, _cursor_of(first[0]))
                    continue
                items: Iterator[dict[str, Any]] = iter(reversed(first))
            else:
                items = self._newer(path, cursor)
            for child in items:
                inbound = self.to_inbound(child, intake)
                if inbound is not None:
                    accept(engine, self, [inbound], intake)
                save_cursor(engine, self.row.id or 0, stream, _cursor_of(child))
        return intake

    def to_inbound(self, child: Mapping[str, Any], intake: Intake) -> Inbound | None:
        kind, data = child.get("kind"), child.get("data") or {}
        name = str(data.get("name") or "")
        if str(data.get("author", "")).lower() == self.me.lower():
            intake.ignored.append(f"{name} is our own")
            return None
        if kind == "t1":
            text = str(data.get("body") or "")
            link_id = str(data.get("link_id") or "")
            thread = best_effort(link_id, lambda: self._submission_turn(link_id))
        elif kind == "t3":
            text = "\n\n".join(p for p in (str(data.get("title") or ""), str(data.get("selftext") or "")) if p)
            link_id, thread = name, []
        elif kind == "t4":  # a private message in the inbox: answered privately, in its conversation
            text = str(data.get("body") or "")
            link_id = str(data.get("first_message_name") or name)
            thread = []
        else:
            intake.ignored.append(f"{name or kind}: not a comment, post or private message")
            return None
        if not text.strip() or text in ("[deleted]", "[removed]"):
            intake.ignored.append(f"{name} has no text")
            return None
        created = data.get("created_utc")
        message = MessageCreate(
            external_id=f"{self.name}/{name}", platform=self.platform,
            author={"id": str(data.get("author_fullname") or data.get("author")), "handle": str(data.get("author"))},
            text=text[:20_000], thread_id=f"{self.name}/{link_id}", thread=thread, public=kind != "t4",
            received_at=datetime.fromtimestamp(float(created), UTC) if created else None,
        )
        permalink = f"https://www.reddit.com{data['permalink']}" if data.get("permalink") else None
        return Inbound(message, {"thing_id": name, "link_id": link_id}, permalink=permalink)

    def _submission_turn(self, link_id: str) -> list[dict[str, str]]:
        """The post a comment is under, as the thread's first turn (one lookup per post, cached)."""
        if not link_id:
            return []
        if link_id not in self._titles:
            if len(self._titles) > 1000:  # a cache of recent posts, not a copy of the subreddit
                self._titles.clear()
            things = self._listing("/api/info", id=link_id)
            post = things[0]["data"] if things else {}
            self._titles[link_id] = {"author": str(post.get("author") or "[deleted]"), "text": "\n\n".join(
                p for p in (str(post.get("title") or ""), str(post.get("selftext") or "")) if p)[:20_000]}
        turn = self._titles[link_id]
        return [turn] if turn["text"] else []

    # -- delivery -------------------------------------------------------------------------------------
    def post_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply:
        body = self.api("POST", "/api/comment", data={"api_type": "json", "thing_id": reply_to["thing_id"],
                                                      "text": text}).json().get("json") or {}
        for code, message, *_rest in body.get("errors") or []:
            if code == "RATELIMIT":
                match = _WAIT.search(str(message))
                wait = float(match.group(1)) * (60 if match and match.group(2) == "minute" else 1) if match else 60
                raise PlatformDeferred(wait, str(message))
            raise PlatformRefused(f"{code}: {message}")
        things = (body.get("data") or {}).get("things") or []
        if not things:
            raise PlatformRefused("Reddit answered without the new comment")
        return self._reply(things[0]["data"])

    def _reply(self, data: Mapping[str, Any]) -> PlatformReply:
        if str(data.get("name", "")).startswith("t4_"):
            link: str | None = f"https://www.reddit.com/message/messages/{data.get('id')}"
        else:
            link = f"https://www.reddit.com{data['permalink']}" if data.get("permalink") else None
        return PlatformReply(target=f"reddit:{self.name}", post_id=str(data.get("name") or data.get("id")), url=link)

    def find_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply | None:
        private = str(reply_to["thing_id"]).startswith("t4_")
        mine = "/message/sent" if private else f"/user/{self.me}/comments"
        for child in self._listing(mine, limit=100, sort="new"):
            data = child.get("data") or {}
            if data.get("parent_id") == reply_to["thing_id"] and same_text(str(data.get("body") or ""), text):
                return self._reply(data)
        return None

    def check(self) -> list[Check]:
        checks: list[Check] = []
        try:
            self._authenticate()
        except PlatformRefused as exc:
            return [Check("credentials", False, f"{exc}: create a 'script' app at reddit.com/prefs/apps for "
                          f"/u/{self.me} and give its client id, secret and the account's password (or a "
                          "refresh token)")]
        me = self.api("GET", "/api/v1/me", allow=(403,))
        who = me.json().get("name") if me.status_code == 200 else None
        checks.append(Check("account", who == self.me, f"acts as /u/{who}" if who == self.me else
                            f"the token acts as /u/{who}, not /u/{self.me}"))
        needed = {"identity", "read", "submit", "privatemessages"}
        missing = needed - self.scopes if "*" not in self.scopes else set()
        checks.append(Check("scopes", not missing, "all granted" if not missing else
                            f"missing OAuth scopes: {', '.join(sorted(missing))}"))
        for sub in self.config.get("subreddits") or []:
            about = self.api("GET", f"/r/{sub}/about", allow=(403, 404))
            checks.append(Check(f"r/{sub}", about.status_code == 200, "readable" if about.status_code == 200 else
                                f"{about.status_code}: the subreddit is private, banned or does not exist"))
        return checks


def _cursor_of(child: Mapping[str, Any]) -> str:
    data = child.get("data") or {}
    return f"{data.get('name')}@{data.get('created_utc') or ''}"
