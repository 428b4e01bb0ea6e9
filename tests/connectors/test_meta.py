"""Meta (Facebook Page + Instagram) end to end against a loopback Graph API: the subscribe challenge, a
signed comment event → a pending draft → approval → exactly one reply to that comment. Faults: bad
signature, replay, rate-limit error codes with X-Business-Use-Case-Usage, 5xx, a reply accepted then
answered too late, our own comment, a deleted comment; Instagram mentions and private replies."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testkit.live import LiveServer, wait_for
from testkit.platforms.meta import IG_USER_ID, PAGE_ID, MetaServer
from tests.connectors.conftest import add_connector, approve, delivery_of, message_count, pending_draft

QUESTION = "How long does shipping to the UK take?"


@pytest.fixture(scope="module")
def graph() -> Iterator[MetaServer]:
    with MetaServer() as server:
        yield server


def _connector(desk: LiveServer, graph: MetaServer, name: str, **config: Any) -> dict[str, Any]:
    return add_connector(desk, {
        "name": name, "platform": "meta",
        "config": {"page_id": PAGE_ID, "ig_user_id": IG_USER_ID, "graph_url": graph.graph_url,
                   "rate_limit_wait": 0.2, **config},
        "credentials": {"page_access_token": {"value": graph.token}, "app_secret": {"env": "TEST_META_APP_SECRET"},
                        "verify_token": {"value": "my-verify-token"}},
    })


@pytest.fixture(scope="module")
def connector(desk: LiveServer, graph: MetaServer) -> dict[str, Any]:
    os.environ["TEST_META_APP_SECRET"] = graph.app_secret  # the server reads the secret from its environment
    return _connector(desk, graph, "lumen-meta")


def _send(desk: LiveServer, connector: dict[str, Any], headers: dict[str, str], body: bytes) -> httpx.Response:
    with desk.client(None) as anonymous:
        return anonymous.post(connector["events_path"], content=body, headers=headers)


def _answer(desk: LiveServer, connector: dict[str, Any], event: tuple[dict[str, str], bytes],
            text: str, status: str = "delivered") -> tuple[dict[str, Any], dict[str, Any]]:
    answer = _send(desk, connector, *event)
    assert answer.status_code == 200, answer.text
    [message_id] = answer.json()["accepted"]
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message_id)
        approve(cm, draft, text)
        return draft, delivery_of(cm, draft["id"], status)


def test_the_subscribe_challenge_answers_only_the_right_verify_token(
    desk: LiveServer, connector: dict[str, Any]
) -> None:
    with desk.client(None) as anonymous:
        ok = anonymous.get(connector["events_path"], params={
            "hub.mode": "subscribe", "hub.verify_token": "my-verify-token", "hub.challenge": "1158201444"})
        wrong = anonymous.get(connector["events_path"], params={
            "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert wrong.status_code == 403


def test_a_facebook_comment_is_answered_once_in_place(
    desk: LiveServer, graph: MetaServer, connector: dict[str, Any]
) -> None:
    comment = graph.comment("facebook", QUESTION)
    draft, delivery = _answer(desk, connector, graph.event(comment), "Hi Dana, 3-5 working days.")
    message = draft["message"]
    assert (message["platform"], message["author"]["id"]) == ("facebook", "9001")
    assert message["thread_id"] == f"lumen-meta/{comment['post_id']}"
    assert message["thread"] == [{"author": "Lumen Bikes", "text": "New this week: the Commuter in forest green."}]
    [reply] = graph.replies_to(comment["id"])
    assert reply["message"] == "Hi Dana, 3-5 working days."
    assert delivery["platform_post_id"] == reply["id"]
    assert delivery["platform_url"] == f"https://www.facebook.com/{reply['id']}"


def test_an_instagram_comment_is_answered_once_in_place(
    desk: LiveServer, graph: MetaServer, connector: dict[str, Any]
) -> None:
    comment = graph.comment("instagram", QUESTION, author_id="7001", name="kim.rides")
    draft, delivery = _answer(desk, connector, graph.event(comment), "Hi Kim, 3-5 working days.")
    assert (draft["message"]["platform"], draft["message"]["author"]["handle"]) == ("instagram", "kim.rides")
    caption = "New this week: the Commuter in forest green."
    assert draft["message"]["thread"] == [{"author": "lumenbikes", "text": caption}]  # the media's caption
    assert [r["text"] for r in graph.replies_to(comment["id"])] == ["Hi Kim, 3-5 working days."]
    assert delivery["platform_post_id"] == graph.replies_to(comment["id"])[0]["id"]


def test_an_instagram_mention_is_read_and_answered(
    desk: LiveServer, graph: MetaServer, connector: dict[str, Any]
) -> None:
    comment = graph.comment("instagram", "@lumenbikes does the Trail fold?", author_id="7002", name="ola")
    draft, _delivery = _answer(desk, connector, graph.event(comment, field="mentions"), "It does not, Ola.")
    assert draft["message"]["text"] == "@lumenbikes does the Trail fold?"
    assert [r["text"] for r in graph.replies_to(comment["id"])] == ["It does not, Ola."]


def test_a_bad_signature_is_401_and_queues_nothing(
    desk: LiveServer, graph: MetaServer, connector: dict[str, Any]
) -> None:
    before = message_count(desk)
    assert _send(desk, connector, *graph.event(graph.comment("facebook", QUESTION), secret="wrong")).status_code == 401
    assert message_count(desk) == before


def test_a_replayed_event_is_one_message(desk: LiveServer, graph: MetaServer, connector: dict[str, Any]) -> None:
    event = graph.event(graph.comment("facebook", "Do you ship to Norway?"))
    first = _send(desk, connector, *event).json()
    again = _send(desk, connector, *event).json()
    assert len(first["accepted"]) == 1 and again["duplicates"] == first["accepted"] and again["accepted"] == []


def test_our_own_comment_is_ignored(desk: LiveServer, graph: MetaServer, connector: dict[str, Any]) -> None:
    before = message_count(desk)
    answer = _send(desk, connector, *graph.event(graph.comment("facebook", "Thanks all!"), author_id=PAGE_ID)).json()
    assert answer["accepted"] == [] and "our own" in answer["ignored"][0]
    assert message_count(desk) == before


def test_rate_limit_codes_wait_and_post_once(desk: LiveServer, graph: MetaServer, connector: dict[str, Any]) -> None:
    comment = graph.comment("facebook", QUESTION, name="rae")
    usage = json.dumps({PAGE_ID: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 0}]})
    graph.fail("POST", r"/v21\.0/\w+/comments", 400, {"x-business-use-case-usage": usage},
               {"error": {"message": "(#32) Page request limit reached", "type": "OAuthException", "code": 32}})
    graph.fail("POST", r"/v21\.0/\w+/comments", 400, {},
               {"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}})
    _answer(desk, connector, graph.event(comment), "Rae: 3-5 days.")
    assert [r["message"] for r in graph.replies_to(comment["id"])] == ["Rae: 3-5 days."]


def test_5xx_then_success_posts_once(desk: LiveServer, graph: MetaServer, connector: dict[str, Any]) -> None:
    comment = graph.comment("facebook", QUESTION, name="fay")
    graph.fail("POST", r"/v21\.0/\w+/comments", 500, body={"error": {"message": "An unknown error", "code": 1}})
    _answer(desk, connector, graph.event(comment), "Fay: 3-5 days.")
    assert [r["message"] for r in graph.replies_to(comment["id"])] == ["Fay: 3-5 days."]


def test_a_reply_accepted_then_timed_out_is_not_posted_twice(
    desk: LiveServer, graph: MetaServer, connector: dict[str, Any]
) -> None:
    comment = graph.comment("facebook", QUESTION, name="tim")
    graph.stall("POST", r"/v21\.0/\w+/comments", 3.0)
    _draft, delivery = _answer(desk, connector, graph.event(comment), "Tim: 3-5 days.")
    [reply] = graph.replies_to(comment["id"])
    assert delivery["attempts"] >= 2 and delivery["platform_post_id"] == reply["id"]


def test_a_deleted_comment_fails_the_delivery_with_metas_reason(
    desk: LiveServer, graph: MetaServer, connector: dict[str, Any]
) -> None:
    comment = graph.comment("facebook", QUESTION, name="gil")
    answer = _send(desk, connector, *graph.event(comment))
    [message_id] = answer.json()["accepted"]
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message_id)
        del graph.comments[comment["id"]]
        approve(cm, draft, "Gil: 3-5 days.")
        failed = delivery_of(cm, draft["id"], status="failed")
    assert "refused by facebook: 400" in failed["last_error"] and "does not exist" in failed["last_error"]


def test_private_replies_go_to_the_commenter(desk: LiveServer, graph: MetaServer, connector: dict[str, Any]) -> None:
    private = _connector(desk, graph, "lumen-private", reply_mode="private")
    comment = graph.comment("facebook", "Can I get a refund on my order 1234?", name="pat")
    _answer(desk, private, graph.event(comment), "Hi Pat, I've sent you the details privately.")
    assert graph.replies_to(comment["id"]) == []
    [sent] = [p for p in graph.private if p["recipient"]["comment_id"] == comment["id"]]
    assert sent["message"] == {"text": "Hi Pat, I've sent you the details privately."} and sent["from"] == PAGE_ID


def test_a_private_reply_that_timed_out_fails_visibly_instead_of_a_second_message(
    desk: LiveServer, graph: MetaServer, connector: dict[str, Any]
) -> None:
    """Private replies cannot be listed per comment, so a retry cannot check whether the first attempt got
    through: the delivery fails and says so, and the commenter gets one message, never two."""
    private = _connector(desk, graph, "lumen-private-stall", reply_mode="private")
    comment = graph.comment("facebook", "Where is my order 5678?", name="ria")
    graph.stall("POST", r"/v21\.0/\w+/messages", 3.0)
    _draft, failed = _answer(desk, private, graph.event(comment), "Hi Ria, details sent privately.", "failed")
    assert "may already have posted this reply" in failed["last_error"]
    assert len([p for p in graph.private if p["recipient"]["comment_id"] == comment["id"]]) == 1


def test_a_long_rate_limit_defers_the_delivery_without_counting_or_dropping_it(
    desk: LiveServer, graph: MetaServer, connector: dict[str, Any]
) -> None:
    comment = graph.comment("facebook", QUESTION, name="lou")
    usage = json.dumps({PAGE_ID: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 5}]})
    graph.fail("POST", r"/v21\.0/\w+/comments", 400, {"x-business-use-case-usage": usage},
               {"error": {"message": "(#32) Page request limit reached", "type": "OAuthException", "code": 32}})
    answer = _send(desk, connector, *graph.event(comment))
    [message_id] = answer.json()["accepted"]
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message_id)
        approve(cm, draft, "Lou: 3-5 days.")

        def deferred() -> dict[str, Any] | None:
            rows = cm.get("/v1/deliveries", params={"draft_id": draft["id"]}).json()["data"]
            return rows[0] if rows and rows[0]["last_error"] else None

        delivery = wait_for(deferred)
    assert delivery["status"] == "pending" and delivery["attempts"] == 0  # waiting its turn, not failing
    assert "rate limited" in delivery["last_error"] and "Page request limit reached" in delivery["last_error"]
    assert graph.replies_to(comment["id"]) == []
