"""Reddit end to end against a loopback Reddit: a new comment in a watched subreddit (or the inbox) is
polled from the cursor → a pending draft with the post as the thread's first turn → approval → exactly one
comment reply to it. Faults: 429 with X-Ratelimit-Reset, 5xx, a reply accepted then answered too late, a
deleted parent, our own comment, and a poller killed mid-page and restarted (no gap, no duplicate)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from connectors.cursors import load_cursor
from connectors.runner import ConnectorRunner
from desk.models import Message
from testkit.live import LiveServer, process_env, wait_for
from testkit.platforms.reddit import RedditServer
from tests.connectors.conftest import add_connector, approve, delivery_of, pending_draft

QUESTION = "How long does shipping to the UK take?"


@pytest.fixture(scope="module")
def reddit() -> Iterator[RedditServer]:
    with RedditServer() as server:
        yield server


def _connector(desk: LiveServer, reddit: RedditServer, name: str, subreddit: str) -> dict[str, Any]:
    os.environ["TEST_REDDIT_PASSWORD"] = reddit.password
    return add_connector(desk, {
        "name": name, "platform": "reddit",
        "config": {"username": reddit.username, "subreddits": [subreddit], "oauth_url": reddit.url,
                   "www_url": reddit.url},
        "credentials": {"client_id": {"value": reddit.client_id}, "client_secret": {"value": reddit.client_secret},
                        "password": {"env": "TEST_REDDIT_PASSWORD"}},
    })


@pytest.fixture(scope="module")
def connector(desk: LiveServer, reddit: RedditServer) -> dict[str, Any]:
    return _connector(desk, reddit, "lumen-reddit", "lumenbikes")


@pytest.fixture(scope="module")
def runner(desk: LiveServer, connector: dict[str, Any], reddit: RedditServer) -> Iterator[ConnectorRunner]:
    reddit.post("lumenbikes", "Welcome thread")  # before the connector's first poll: not taken (no backfill)
    runner = ConnectorRunner(desk.settings, desk.engine)
    assert runner.poll_once(connector["id"])[connector["name"]].accepted == []
    yield runner
    runner.close()


def _messages(desk: LiveServer, connector: dict[str, Any]) -> list[Message]:
    with Session(desk.engine) as session:
        return list(session.exec(select(Message).where(col(Message.external_id).startswith(f"{connector['name']}/"))
                                 .order_by(col(Message.id))).all())


def _poll_for(desk: LiveServer, runner: ConnectorRunner, connector: dict[str, Any], thing: dict[str, Any]) -> int:
    """Poll once; the id of the message made of ``thing`` (new posts of the subreddit are taken too)."""
    accepted = runner.poll_once(connector["id"])[connector["name"]].accepted
    [message] = [m for m in _messages(desk, connector) if m.external_id == f"{connector['name']}/{thing['name']}"]
    assert message.id in accepted
    return message.id or 0


def _answer(desk: LiveServer, runner: ConnectorRunner, connector: dict[str, Any], thing: dict[str, Any], text: str,
            status: str = "delivered") -> tuple[dict[str, Any], dict[str, Any]]:
    message_id = _poll_for(desk, runner, connector, thing)
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message_id)
        approve(cm, draft, text)
        return draft, delivery_of(cm, draft["id"], status)


def test_a_new_comment_is_polled_drafted_and_answered_once(
    desk: LiveServer, reddit: RedditServer, runner: ConnectorRunner, connector: dict[str, Any]
) -> None:
    post = reddit.post("lumenbikes", "Shipping question", "Ordering from London soon.", author="sam")
    comment = reddit.comment(post, QUESTION)
    draft, delivery = _answer(desk, runner, connector, comment, "Hi Dana, 3-5 working days.")
    message = draft["message"]
    assert (message["platform"], message["author"]["handle"]) == ("reddit", "dana_rides")
    assert message["thread_id"] == f"lumen-reddit/{post['name']}"
    assert message["thread"] == [{"author": "sam", "text": "Shipping question\n\nOrdering from London soon."}]
    [reply] = reddit.replies_to(comment["name"])
    assert reply["body"] == "Hi Dana, 3-5 working days."
    assert delivery["platform_post_id"] == reply["name"]
    assert delivery["platform_url"] == f"https://www.reddit.com{reply['permalink']}"
    taken = runner.poll_once(connector["id"])[connector["name"]]
    assert taken.accepted == [] and any("our own" in i for i in taken.ignored)  # our reply is not taken


def test_inbox_mentions_are_taken(
    desk: LiveServer, reddit: RedditServer, runner: ConnectorRunner, connector: dict[str, Any]
) -> None:
    elsewhere = reddit.post("ebikes", "Best commuter bike?", author="lee")
    mention = reddit.comment(elsewhere, "u/lumen_support does the Commuter fold?", author="lee", inbox=True)
    message_id = _poll_for(desk, runner, connector, mention)
    with desk.client("cm") as cm:
        assert pending_draft(cm, message_id)["message"]["external_id"] == f"lumen-reddit/{mention['name']}"


def test_our_own_comment_is_ignored(
    desk: LiveServer, reddit: RedditServer, runner: ConnectorRunner, connector: dict[str, Any]
) -> None:
    reddit.comment(reddit.post("lumenbikes", "News", author=reddit.username), "We are live!", author=reddit.username)
    before = len(_messages(desk, connector))
    taken = runner.poll_once(connector["id"])[connector["name"]]
    assert taken.accepted == [] and any("our own" in i for i in taken.ignored)
    assert len(_messages(desk, connector)) == before


def test_429_with_reset_headers_waits_and_posts_once(
    desk: LiveServer, reddit: RedditServer, runner: ConnectorRunner, connector: dict[str, Any]
) -> None:
    comment = reddit.comment(reddit.post("lumenbikes", "Rate"), QUESTION, author="rae")
    reddit.fail("POST", r"/api/comment", 429, {"x-ratelimit-remaining": "0", "x-ratelimit-used": "600",
                                               "x-ratelimit-reset": "0.2"}, {"message": "Too Many Requests"})
    reddit.fail("GET", r"/r/lumenbikes/comments", 429, {"x-ratelimit-reset": "0.2"}, {"message": "Too Many Requests"})
    _answer(desk, runner, connector, comment, "Rae: 3-5 days.")
    assert [r["body"] for r in reddit.replies_to(comment["name"])] == ["Rae: 3-5 days."]


def test_5xx_then_success_posts_once(
    desk: LiveServer, reddit: RedditServer, runner: ConnectorRunner, connector: dict[str, Any]
) -> None:
    comment = reddit.comment(reddit.post("lumenbikes", "Flaky"), QUESTION, author="fay")
    reddit.fail("POST", r"/api/comment", 503, body={"message": "Service Unavailable"}, times=2)
    _answer(desk, runner, connector, comment, "Fay: 3-5 days.")
    assert [r["body"] for r in reddit.replies_to(comment["name"])] == ["Fay: 3-5 days."]


def test_a_reply_accepted_then_timed_out_is_not_posted_twice(
    desk: LiveServer, reddit: RedditServer, runner: ConnectorRunner, connector: dict[str, Any]
) -> None:
    comment = reddit.comment(reddit.post("lumenbikes", "Slow"), QUESTION, author="tim")
    reddit.stall("POST", r"/api/comment", 3.0)
    _draft, delivery = _answer(desk, runner, connector, comment, "Tim: 3-5 days.")
    [reply] = reddit.replies_to(comment["name"])
    assert delivery["attempts"] >= 2 and delivery["platform_post_id"] == reply["name"]


def test_a_deleted_parent_fails_the_delivery_with_reddits_reason(
    desk: LiveServer, reddit: RedditServer, runner: ConnectorRunner, connector: dict[str, Any]
) -> None:
    comment = reddit.comment(reddit.post("lumenbikes", "Gone"), QUESTION, author="gil")
    message_id = _poll_for(desk, runner, connector, comment)
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message_id)
        reddit.deleted.add(comment["name"])
        approve(cm, draft, "Gil: 3-5 days.")
        failed = delivery_of(cm, draft["id"], status="failed")
    assert "DELETED_COMMENT: that comment has been deleted" in failed["last_error"]


def test_a_poller_killed_mid_page_resumes_with_no_gap_and_no_duplicate(
    desk: LiveServer, reddit: RedditServer, tmp_path: Path
) -> None:
    connector = _connector(desk, reddit, "lumen-kill", "killtest")
    reddit.post("killtest", "Before")
    first = ConnectorRunner(desk.settings, desk.engine)
    first.poll_once(connector["id"])  # the cursor starts at the newest item
    first.close()
    comments = [reddit.comment(reddit.post("killtest", f"Post {i}"), f"Question {i}?", author=f"user{i}")
                for i in range(5)]
    # Each comment's post is looked up (the thread's first turn): the third lookup hangs, and the poller is
    # killed while it waits — after two comments of the page are stored and before the rest.
    info_calls = reddit.count("GET", r"/api/info")
    reddit.stall("GET", r"/api/info", 60.0, skip=2)
    env = process_env(desk.settings, connectors_enabled="false")
    env["TEST_REDDIT_PASSWORD"] = reddit.password
    cli = [sys.executable, "-m", "replydesk.cli", "connectors", "poll", str(connector["id"]), "--once"]
    poller = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: reddit.count("GET", r"/api/info") >= info_calls + 3)
        poller.send_signal(signal.SIGKILL)
    finally:
        poller.wait(timeout=30)
    stored = [m.external_id for m in _messages(desk, connector)]
    assert stored == [f"lumen-kill/{c['name']}" for c in comments[:2]]  # killed mid-page
    assert str(load_cursor(desk.engine, connector["id"], "r/killtest/comments")).startswith(comments[1]["name"])
    restarted = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    taken = [m.external_id for m in _messages(desk, connector) if "/t1_" in m.external_id]
    assert taken == [f"lumen-kill/{c['name']}" for c in comments]  # the rest, once each, in order
    listing = [c for c in reddit.calls if c.path == "/r/killtest/comments"][-1]
    assert listing.query["before"] == [comments[1]["name"]]  # resumed from the cursor, not from the start


def test_a_private_message_is_answered_privately_once(
    desk: LiveServer, reddit: RedditServer, runner: ConnectorRunner, connector: dict[str, Any]
) -> None:
    pm = reddit.private_message("Where is my order 1234?", author="pat")
    reddit.stall("POST", r"/api/comment", 3.0)  # accepted, answered late: found in /message/sent, not resent
    draft, delivery = _answer(desk, runner, connector, pm, "Hi Pat, it left our warehouse today.")
    assert draft["message"]["public"] is False
    [reply] = reddit.replies_to(pm["name"])
    assert reply["name"].startswith("t4_") and reply["dest"] == "pat"
    assert delivery["platform_post_id"] == reply["name"] and delivery["attempts"] >= 2


def test_a_ratelimit_error_in_the_answer_defers_the_reply_then_posts_it_once(
    desk: LiveServer, reddit: RedditServer, runner: ConnectorRunner, connector: dict[str, Any]
) -> None:
    comment = reddit.comment(reddit.post("lumenbikes", "New account"), QUESTION, author="nia")
    reddit.fail("POST", r"/api/comment", 200, body={"json": {"errors": [
        ["RATELIMIT", "Looks like you've been doing that a lot. Take a break for 1 second before trying again.",
         "ratelimit"]]}})
    _draft, delivery = _answer(desk, runner, connector, comment, "Nia: 3-5 days.")
    assert [r["body"] for r in reddit.replies_to(comment["name"])] == ["Nia: 3-5 days."]
    assert delivery["attempts"] == 1  # the deferred try was not counted
