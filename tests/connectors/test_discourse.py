"""Discourse end to end against a loopback forum: a signed post_created event → a pending draft with the
topic as its thread and the poster as author → approval → exactly one reply, in the topic, to that post.
Faults: bad signature, a replayed event, 429 with Retry-After, 5xx, a post accepted then answered too late,
our own post, a deleted topic."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testkit.live import LiveServer
from testkit.platforms.discourse import DiscourseServer
from tests.connectors.conftest import add_connector, approve, delivery_of, message_count, pending_draft

QUESTION = "How long does shipping to the UK take?"


@pytest.fixture(scope="module")
def forum() -> Iterator[DiscourseServer]:
    with DiscourseServer() as server:
        yield server


@pytest.fixture(scope="module")
def connector(desk: LiveServer, forum: DiscourseServer) -> dict[str, Any]:
    os.environ["TEST_FORUM_HOOK_SECRET"] = forum.webhook_secret  # the server reads the secret from its environment
    return add_connector(desk, {
        "name": "forum", "platform": "discourse",
        "config": {"base_url": forum.url, "username": forum.username},
        "credentials": {"api_key": {"value": forum.api_key}, "webhook_secret": {"env": "TEST_FORUM_HOOK_SECRET"}},
    })


def _send(desk: LiveServer, connector: dict[str, Any], headers: dict[str, str], body: bytes) -> httpx.Response:
    with desk.client(None) as anonymous:  # no API key: the platform's signature is the authentication
        return anonymous.post(connector["events_path"], content=body, headers=headers)


def _answer(desk: LiveServer, connector: dict[str, Any], forum: DiscourseServer, post: dict[str, Any],
            text: str) -> dict[str, Any]:
    answer = _send(desk, connector, *forum.event("post_created", post))
    assert answer.status_code == 200, answer.text
    [message_id] = answer.json()["accepted"]
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message_id)
        approve(cm, draft, text)
        return delivery_of(cm, draft["id"])


def test_a_post_becomes_a_draft_and_its_approved_reply_is_posted_once(
    desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]
) -> None:
    first = forum.new_topic("Shipping to the UK", "Hi all, new here.", username="sam", user_id=3)
    post = forum.add_post(first["topic_id"], QUESTION, "dana", 7)
    answer = _send(desk, connector, *forum.event("post_created", post))
    assert answer.status_code == 200, answer.text
    [message_id] = answer.json()["accepted"]
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message_id)
        message = draft["message"]
        assert message["platform"] == "discourse"
        assert message["author"]["handle"] == "dana"
        assert message["thread_id"] == f"forum/t/{post['topic_id']}"
        assert message["thread"] == [{"author": "sam", "text": "Hi all, new here."}]  # the topic's earlier turn
        approve(cm, draft, "Hi Dana, UK orders arrive in 3-5 working days.")
        delivery = delivery_of(cm, draft["id"])
    [reply] = forum.replies_to(post["topic_id"], post["post_number"])
    assert reply["raw"] == "Hi Dana, UK orders arrive in 3-5 working days."
    assert delivery["platform_post_id"] == str(reply["id"])
    assert delivery["platform_url"] == f"{forum.url}/t/{reply['topic_slug']}/{reply['topic_id']}/{reply['post_number']}"
    assert delivery["target"] == "discourse:forum"


def test_a_bad_signature_is_401_and_queues_nothing(
    desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]
) -> None:
    post = forum.new_topic("Forged", QUESTION, username="mallory")
    before = message_count(desk)
    headers, body = forum.event("post_created", post, secret="not-the-secret")
    assert _send(desk, connector, headers, body).status_code == 401
    unsigned = {k: v for k, v in headers.items() if k != "x-discourse-event-signature"}
    assert _send(desk, connector, unsigned, body).status_code == 401
    assert message_count(desk) == before


def test_a_replayed_event_is_one_message(desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]) -> None:
    post = forum.new_topic("Replay", "Do you ship to Norway?", username="ola")
    event = forum.event("post_created", post)
    first = _send(desk, connector, *event).json()
    again = _send(desk, connector, *event).json()
    assert len(first["accepted"]) == 1
    assert again == {"accepted": [], "duplicates": first["accepted"], "ignored": []}
    # topic_created for the same topic brings its first post: the same message again
    created = _send(desk, connector, *forum.event("topic_created", post)).json()
    assert created["duplicates"] == first["accepted"]


def test_topic_created_takes_the_first_post(
    desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]
) -> None:
    post = forum.new_topic("New topic", "Is the Commuter waterproof?", username="kim")
    answer = _send(desk, connector, *forum.event("topic_created", post)).json()
    assert len(answer["accepted"]) == 1
    with desk.client("cm") as cm:
        draft = pending_draft(cm, answer["accepted"][0])
    assert draft["message"]["text"] == "Is the Commuter waterproof?"


def test_our_own_post_is_ignored(desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]) -> None:
    post = forum.new_topic("Announcement", "We are live!", username=forum.username)
    before = message_count(desk)
    answer = _send(desk, connector, *forum.event("post_created", post)).json()
    assert answer["accepted"] == [] and "our own" in answer["ignored"][0]
    assert message_count(desk) == before


def test_429_with_retry_after_waits_and_posts_once(
    desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]
) -> None:
    post = forum.new_topic("Rate", QUESTION, username="rae")
    forum.fail("POST", r"/posts\.json", 429, {"retry-after": "0.2"},
               {"errors": ["You've performed this action too many times."], "extras": {"wait_seconds": 0.2}})
    _answer(desk, connector, forum, post, "Rae: 3-5 working days.")
    assert [r["raw"] for r in forum.replies_to(post["topic_id"], 1)] == ["Rae: 3-5 working days."]


def test_5xx_then_success_posts_once(desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]) -> None:
    post = forum.new_topic("Flaky", QUESTION, username="fay")
    forum.fail("POST", r"/posts\.json", 502, body={"errors": ["bad gateway"]}, times=2)
    _answer(desk, connector, forum, post, "Fay: 3-5 working days.")
    assert [r["raw"] for r in forum.replies_to(post["topic_id"], 1)] == ["Fay: 3-5 working days."]


def test_a_post_accepted_then_timed_out_is_not_posted_twice(
    desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]
) -> None:
    post = forum.new_topic("Slow", QUESTION, username="tim")
    forum.stall("POST", r"/posts\.json", 3.0)  # accepted, answered after the 1 s delivery timeout
    posts_before = forum.count("POST", r"/posts\.json")
    delivery = _answer(desk, connector, forum, post, "Tim: 3-5 working days.")
    [reply] = forum.replies_to(post["topic_id"], 1)
    assert reply["raw"] == "Tim: 3-5 working days."
    assert delivery["attempts"] >= 2 and delivery["platform_post_id"] == str(reply["id"])
    assert forum.count("POST", r"/posts\.json") == posts_before + 1  # found, not posted again


def test_a_deleted_topic_fails_the_delivery_with_the_platforms_reason(
    desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]
) -> None:
    post = forum.new_topic("Gone", QUESTION, username="gil")
    answer = _send(desk, connector, *forum.event("post_created", post))
    [message_id] = answer.json()["accepted"]
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message_id)
        del forum.topics[post["topic_id"]]
        approve(cm, draft, "Gil: 3-5 working days.")
        failed = delivery_of(cm, draft["id"], status="failed")
    assert "refused by discourse: 404" in failed["last_error"]
    assert "could not be found" in failed["last_error"]


def test_a_post_is_taken_without_context_when_the_forum_cannot_give_it(
    desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]
) -> None:
    first = forum.new_topic("Context", "Opening post.", username="sam")
    post = forum.add_post(first["topic_id"], QUESTION, "noor", 9)
    forum.fail("GET", r"/t/\d+\.json", 503, body={"errors": ["maintenance"]}, times=4)
    answer = _send(desk, connector, *forum.event("post_created", post))
    assert answer.status_code == 200, answer.text
    [message_id] = answer.json()["accepted"]
    with desk.client("cm") as cm:
        assert pending_draft(cm, message_id)["message"]["thread"] == []


def test_an_oversized_event_is_413_and_a_removed_connector_takes_nothing(
    desk: LiveServer, forum: DiscourseServer
) -> None:
    os.environ["TEST_FORUM_HOOK_SECRET"] = forum.webhook_secret
    extra = add_connector(desk, {
        "name": "forum-extra", "platform": "discourse",
        "config": {"base_url": forum.url, "username": forum.username},
        "credentials": {"api_key": {"value": forum.api_key}, "webhook_secret": {"env": "TEST_FORUM_HOOK_SECRET"}},
    })
    huge = b"{" + b" " * (300 * 1024) + b"}"
    assert _send(desk, extra, {"content-type": "application/json", "x-discourse-event": "post_created"},
                 huge).status_code == 413
    with desk.client("admin") as admin:
        assert admin.delete(f"/v1/connectors/{extra['id']}").status_code == 200
    post = forum.new_topic("After removal", QUESTION, username="zed")
    assert _send(desk, extra, *forum.event("post_created", post)).status_code == 404


def test_topic_created_while_the_forum_is_down_is_503_for_a_redelivery(
    desk: LiveServer, forum: DiscourseServer, connector: dict[str, Any]
) -> None:
    post = forum.new_topic("Down", "Is the shop open on Sunday?", username="ida")
    before = message_count(desk)
    forum.fail("GET", r"/t/\d+\.json", 503, body={"errors": ["maintenance"]}, times=4)
    answer = _send(desk, connector, *forum.event("topic_created", post))
    assert answer.status_code == 503 and "discourse could not be read" in answer.json()["detail"]
    assert message_count(desk) == before
    again = _send(desk, connector, *forum.event("topic_created", post))  # the forum sends it again later
    assert again.status_code == 200 and len(again.json()["accepted"]) == 1
