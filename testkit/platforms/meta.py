"""The Graph API on loopback (``/v21.0/...``): a Facebook Page and a linked Instagram account, their comments
and replies, private replies, and webhooks signed as Meta signs them (``X-Hub-Signature-256``)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from typing import Any

from testkit.platforms import Answer, PlatformServer, Request

PAGE_ID, IG_USER_ID = "1040000000000001", "17841400000000001"


def graph_error(message: str, code: int, status: int = 400) -> Answer:
    return status, {}, {"error": {"message": message, "type": "OAuthException", "code": code,
                                  "fbtrace_id": "AbCdEf"}}


class MetaServer(PlatformServer):
    def __init__(self, token: str = "EAAtestpagetoken", app_secret: str = "meta-app-secret") -> None:
        super().__init__()
        self.token, self.app_secret = token, app_secret
        self.comments: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}  # Page posts and Instagram media, by id
        self.private: list[dict[str, Any]] = []
        self._ids = itertools.count(5000)
        v = r"/v\d+\.\d+"
        self.route("GET", v + r"/me", self._me)
        self.route("POST", v + r"/(\d+)/messages", self._message)
        self.route("POST", v + r"/(\d+)/mentions", self._mention_reply)
        self.route("POST", v + r"/([\w]+)/(comments|replies)", self._reply)
        self.route("GET", v + r"/([\w]+)/(comments|replies)", self._list)
        self.route("GET", v + r"/(\d+_\d+)", self._post)
        self.route("GET", v + r"/(\d+)", self._node)

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v21.0"

    # -- state and events -----------------------------------------------------------------------------
    def comment(self, network: str, text: str, author_id: str = "9001", name: str = "dana_rides",
                parent_id: str | None = None, post_text: str = "New this week: the Commuter in forest green.",
                ) -> dict[str, Any]:
        with self.lock:
            post_id = f"{PAGE_ID}_{next(self._ids)}"
            cid = f"{post_id.split('_')[1]}_{next(self._ids)}" if network == "facebook" else str(next(self._ids))
            row: dict[str, Any] = {"id": cid, "network": network, "text": text, "from": {"id": author_id, "name": name,
                   "username": name}, "post_id": post_id, "media_id": str(next(self._ids)), "parent_id": parent_id,
                   "replies": []}
            self.comments[cid] = row
            self.posts[post_id] = {"id": post_id, "message": post_text, "from": {"id": PAGE_ID, "name": "Lumen Bikes"}}
            self.posts[row["media_id"]] = {"id": row["media_id"], "caption": post_text, "username": "lumenbikes"}
            return row

    def replies_to(self, comment_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.comments[comment_id]["replies"])

    def event(self, row: dict[str, Any], field: str | None = None, secret: str | None = None,
              author_id: str | None = None) -> tuple[dict[str, str], bytes]:
        sender = {"id": author_id or row["from"]["id"], "name": row["from"]["name"]}
        if row["network"] == "facebook":
            value: dict[str, Any] = {"from": sender, "item": "comment", "verb": "add", "comment_id": row["id"],
                                     "post_id": row["post_id"], "parent_id": row["parent_id"] or row["post_id"],
                                     "message": row["text"], "created_time": int(time.time())}
            payload = {"object": "page", "entry": [{"id": PAGE_ID, "time": int(time.time()),
                                                    "changes": [{"field": "feed", "value": value}]}]}
        elif field == "mentions":
            payload = {"object": "instagram", "entry": [{"id": IG_USER_ID, "time": int(time.time()), "changes": [
                {"field": "mentions", "value": {"media_id": row["media_id"], "comment_id": row["id"]}}]}]}
        else:
            value = {"id": row["id"], "text": row["text"], "from": {"id": sender["id"], "username": sender["name"]},
                     "media": {"id": row["media_id"], "media_product_type": "FEED"}}
            if row["parent_id"]:
                value["parent_id"] = row["parent_id"]
            payload = {"object": "instagram", "entry": [{"id": IG_USER_ID, "time": int(time.time()),
                                                         "changes": [{"field": "comments", "value": value}]}]}
        body = json.dumps(payload).encode()
        digest = hmac.new((secret or self.app_secret).encode(), body, hashlib.sha256).hexdigest()
        return {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}, body

    # -- the API --------------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def _me(self, request: Request, _match: re.Match[str]) -> Answer:
        if not self._authorized(request):
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        return 200, {}, {"id": PAGE_ID, "name": "Lumen Bikes"}

    def _post(self, request: Request, match: re.Match[str]) -> Answer:
        post = self.posts.get(match.group(1))
        if post is None:
            return graph_error(f"Unsupported get request. Object with ID '{match.group(1)}' does not exist", 100)
        return 200, {}, post

    def _node(self, request: Request, match: re.Match[str]) -> Answer:
        if not self._authorized(request):
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        if match.group(1) in self.posts:
            return 200, {}, self.posts[match.group(1)]
        if match.group(1) != IG_USER_ID:
            return graph_error(f"Unsupported get request. Object with ID '{match.group(1)}' does not exist", 100)
        fields = request.arg("fields") or ""
        found = re.match(r"mentioned_comment\.comment_id\((\w+)\)", fields)
        if found:
            row = self.comments.get(found.group(1))
            if row is None:
                return graph_error("Invalid comment", 100)
            return 200, {}, {"id": IG_USER_ID, "mentioned_comment": {
                "id": row["id"], "text": row["text"], "username": row["from"]["username"],
                "timestamp": "2026-12-02T10:00:00+0000"}}
        return 200, {}, {"id": IG_USER_ID, "username": "lumenbikes"}

    def _reply(self, request: Request, match: re.Match[str]) -> Answer:
        if not self._authorized(request):
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        parent = self.comments.get(match.group(1))
        if parent is None:
            return graph_error(f"Unsupported post request. Object with ID '{match.group(1)}' does not exist, "
                               "cannot be loaded due to missing permissions, or does not support this operation", 100)
        text = request.form().get("message", "")
        new_id = f"{parent['id']}_{next(self._ids)}"
        me = PAGE_ID if parent["network"] == "facebook" else IG_USER_ID
        with self.lock:
            parent["replies"].append({"id": new_id, "message": text, "text": text,
                                      "from": {"id": me, "name": "Lumen Bikes", "username": "lumenbikes"}})
        return 200, {}, {"id": new_id}

    def _list(self, request: Request, match: re.Match[str]) -> Answer:
        parent = self.comments.get(match.group(1))
        if parent is None:
            return graph_error("Object does not exist", 100)
        return 200, {}, {"data": list(parent["replies"]), "paging": {}}

    def _mention_reply(self, request: Request, _match: re.Match[str]) -> Answer:
        form = request.form()
        parent = self.comments.get(form.get("comment_id", ""))
        if parent is None:
            return graph_error("Invalid comment", 100)
        new_id = str(next(self._ids))
        with self.lock:
            parent["replies"].append({"id": new_id, "text": form.get("message", ""),
                                      "from": {"id": IG_USER_ID, "username": "lumenbikes"}})
        return 200, {}, {"id": new_id}

    def _message(self, request: Request, match: re.Match[str]) -> Answer:
        body = request.json()
        with self.lock:
            self.private.append({"from": match.group(1), **body})
        return 200, {}, {"recipient_id": "9001", "message_id": f"m_{next(self._ids)}"}
