"""Posting to webhooks: the workspace webhook (signed like reply deliveries) and Slack-compatible ones."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from desk.signing import sign
from ground.outbound import OutboundRefused
from ground.redact import redact
from insights.errors import NotifyError

SLACK_TEXT_LIMIT = 3500  # Slack truncates long messages; the full digest lives in the files


def post_json(
    client: httpx.Client, url: str, payload: dict[str, Any], uid: str | None = None, secret: str | None = None
) -> None:
    """POST JSON; with ``uid`` the receiver can dedupe (at-least-once), with ``secret`` verify it."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    headers = {"content-type": "application/json"}
    if uid:
        timestamp = str(int(time.time()))
        headers |= {"webhook-id": uid, "webhook-timestamp": timestamp}
        if secret:
            headers["webhook-signature"] = sign(secret, uid, timestamp, body)
    try:
        response = client.post(url, content=body, headers=headers)
        response.raise_for_status()
    except (httpx.HTTPError, OutboundRefused) as exc:
        raise NotifyError(redact(f"{type(exc).__name__}: {exc}")) from exc


def slack_escape(text: str) -> str:
    """Community text inside a Slack message: ``<!channel>`` or ``<@U123>`` must not ping anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(text: str) -> dict[str, Any]:
    """Incoming-webhook shape understood by Slack, Mattermost, Rocket.Chat and Discord's /slack route.

    ``text`` must already be escaped with :func:`slack_escape` wherever it quotes the community.
    """
    if len(text) > SLACK_TEXT_LIMIT:
        text = text[: SLACK_TEXT_LIMIT - 1].rstrip() + "…"
    return {"text": text, "mrkdwn": True}
