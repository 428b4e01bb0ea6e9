"""Discord end to end against a loopback Discord: the bot connects to the gateway (HELLO → IDENTIFY with the
intents → READY → dispatch, heartbeats), a message in a watched channel → a pending draft → approval →
exactly one message reply (``message_reference``) to it. Mentions, DMs and threads; faults: a replayed
dispatch, 429 with retry_after, 5xx, a reply accepted then answered too late, a deleted message, our own
message, RECONNECT with RESUME, and a missing MESSAGE CONTENT intent said clearly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, col, select

from connectors.discord_gateway import GUILD_MESSAGES, MESSAGE_CONTENT
from connectors.runner import ConnectorRunner
from desk.models import Message
from testkit.live import LiveServer, wait_for
from testkit.platforms.discord import DiscordServer
from tests.connectors.conftest import add_connector, approve, delivery_of, pending_draft

QUESTION = "How long does shipping to the UK take?"


@pytest.fixture(scope="module")
def discord() -> Iterator[DiscordServer]:
    with DiscordServer() as server:
        yield server


def _connector(desk: LiveServer, server: DiscordServer, name: str, channels: list[str]) -> dict[str, Any]:
    os.environ[f"TEST_DISCORD_TOKEN_{name.upper().replace('-', '_')}"] = server.token
    return add_connector(desk, {
        "name": name, "platform": "discord", "config": {"api_url": server.api_url, "channels": channels},
        "credentials": {"bot_token": {"env": f"TEST_DISCORD_TOKEN_{name.upper().replace('-', '_')}"}},
    })


@pytest.fixture(scope="module")
def support(discord: DiscordServer) -> str:
    return discord.channel("support")


@pytest.fixture(scope="module")
def connector(desk: LiveServer, discord: DiscordServer, support: str) -> Iterator[dict[str, Any]]:
    row = _connector(desk, discord, "lumen-discord", [support])
    runner = ConnectorRunner(desk.settings, desk.engine)
    runner.start_gateways({row["id"]})
    wait_for(lambda: discord.connected() == 1)
    yield row
    runner.close()


def _message_of(desk: LiveServer, connector: dict[str, Any], said: dict[str, Any]) -> Message:
    def find() -> Message | None:
        with Session(desk.engine) as session:
            return session.exec(select(Message).where(
                col(Message.external_id) == f"{connector['name']}/{said['id']}")).first()
    return wait_for(find)


def _answer(desk: LiveServer, connector: dict[str, Any], said: dict[str, Any], text: str,
            status: str = "delivered") -> tuple[dict[str, Any], dict[str, Any]]:
    message = _message_of(desk, connector, said)
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message.id or 0)
        approve(cm, draft, text)
        return draft, delivery_of(cm, draft["id"], status)


def _count(desk: LiveServer, connector: dict[str, Any]) -> int:
    with Session(desk.engine) as session:
        return len(session.exec(select(Message).where(
            col(Message.external_id).startswith(f"{connector['name']}/"))).all())


def test_the_bot_identifies_with_the_message_content_intent_and_heartbeats(
    discord: DiscordServer, connector: dict[str, Any]
) -> None:
    [identify] = discord.identified
    assert identify["intents"] & MESSAGE_CONTENT and identify["intents"] & GUILD_MESSAGES
    wait_for(lambda: discord.heartbeats >= 1)


def test_a_message_in_a_watched_channel_is_answered_once_as_a_reply(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    said = discord.say(support, QUESTION)
    draft, delivery = _answer(desk, connector, said, "Hi Dana, 3-5 working days.")
    message = draft["message"]
    assert (message["platform"], message["author"]["handle"], message["public"]) == ("discord", "dana", True)
    assert message["thread_id"] == f"lumen-discord/{support}"
    [reply] = discord.replies_to(said)
    assert reply["content"] == "Hi Dana, 3-5 working days."
    assert delivery["platform_post_id"] == reply["id"]
    assert delivery["platform_url"].endswith(f"/{support}/{reply['id']}")


def test_threads_mentions_and_dms_are_taken_and_other_channels_are_not(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    thread = discord.channel("order-help", parent_id=support)
    first = discord.say(thread, "I ordered a Commuter last week.", username="kim")
    follow_up = discord.say(thread, QUESTION, username="kim", reply_to=first)
    message = _message_of(desk, connector, follow_up)
    assert message.thread_id == f"lumen-discord/{thread}"
    assert message.thread == [{"author": "kim", "text": "I ordered a Commuter last week."}]
    elsewhere = discord.channel("off-topic")
    mention = discord.say(elsewhere, "<@700000000000000001> does the Trail fold?", mention_bot=True)
    dm = discord.say(None, "Can I change my delivery address?", username="ola")
    assert _message_of(desk, connector, mention).text.endswith("does the Trail fold?")
    assert _message_of(desk, connector, dm).public is False
    before = _count(desk, connector)
    ignored = discord.say(elsewhere, "Anyone riding this weekend?")
    _message_of(desk, connector, discord.say(support, "Do you ship to Norway?"))  # taken after the ignored one
    assert _count(desk, connector) == before + 1
    with Session(desk.engine) as session:
        assert session.exec(select(Message).where(col(Message.external_id).endswith(ignored["id"]))).first() is None


def test_our_own_messages_and_other_bots_are_ignored(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    before = _count(desk, connector)
    discord.say(support, "We are live!", author_id=discord.bot_id, username="replydesk")
    discord.say(support, "Beep.", author_id="600", username="otherbot", bot=True)
    _message_of(desk, connector, discord.say(support, "Is the Commuter waterproof?"))
    assert _count(desk, connector) == before + 1


def test_a_replayed_dispatch_is_one_message(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    said = discord.say(support, "Do you ship to Iceland?")
    discord.dispatch("MESSAGE_CREATE", said)
    marker = discord.say(support, "And to Greenland?")
    _message_of(desk, connector, marker)  # dispatched after the replay: the replay was handled by now
    with Session(desk.engine) as session:
        assert len(session.exec(select(Message).where(col(Message.external_id).endswith(said["id"]))).all()) == 1


def test_429_with_retry_after_waits_and_posts_once(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    said = discord.say(support, QUESTION, username="rae")
    discord.fail("POST", r"/api/v10/channels/\d+/messages", 429,
                 {"retry-after": "1", "x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "0.2"},
                 {"message": "You are being rate limited.", "retry_after": 0.2, "global": False})
    _answer(desk, connector, said, "Rae: 3-5 days.")
    assert [r["content"] for r in discord.replies_to(said)] == ["Rae: 3-5 days."]


def test_5xx_then_success_posts_once(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    said = discord.say(support, QUESTION, username="fay")
    discord.fail("POST", r"/api/v10/channels/\d+/messages", 502, body={"message": "Bad Gateway"}, times=2)
    _answer(desk, connector, said, "Fay: 3-5 days.")
    assert [r["content"] for r in discord.replies_to(said)] == ["Fay: 3-5 days."]


def test_a_reply_accepted_then_timed_out_is_not_posted_twice(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    said = discord.say(support, QUESTION, username="tim")
    discord.stall("POST", r"/api/v10/channels/\d+/messages", 3.0)
    _draft, delivery = _answer(desk, connector, said, "Tim: 3-5 days.")
    [reply] = discord.replies_to(said)
    assert delivery["attempts"] >= 2 and delivery["platform_post_id"] == reply["id"]


def test_a_deleted_message_fails_the_delivery_with_discords_reason(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    said = discord.say(support, QUESTION, username="gil")
    message = _message_of(desk, connector, said)
    with desk.client("cm") as cm:
        draft = pending_draft(cm, message.id or 0)
        discord.messages[support] = [m for m in discord.messages[support] if m["id"] != said["id"]]
        approve(cm, draft, "Gil: 3-5 days.")
        failed = delivery_of(cm, draft["id"], status="failed")
    assert "refused by discord: 400 Invalid Form Body: Unknown message" in failed["last_error"]


def test_reconnect_resumes_the_session_without_losing_a_message(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    discord.reconnect()
    said = discord.say(support, "Where is my order 1234?", username="lee")
    wait_for(lambda: discord.resumed)
    assert discord.resumed[0]["session_id"] == "session-1" and discord.resumed[0]["seq"] > 0
    _message_of(desk, connector, said)


def test_a_missing_message_content_intent_is_said_clearly(desk: LiveServer) -> None:
    with DiscordServer(message_content=False) as strict, DiscordServer(message_content=False,
                                                                       strict_intents=False) as lax:
        refused = _connector(desk, strict, "no-intent", [strict.channel("general")])
        general = lax.channel("general")
        blank = _connector(desk, lax, "blank-content", [general])
        runner = ConnectorRunner(desk.settings, desk.engine)
        runner.start_gateways({refused["id"], blank["id"]})
        try:
            with desk.client("admin") as admin:
                def error_of(row: dict[str, Any]) -> str | None:
                    return admin.get(f"/v1/connectors/{row['id']}").json()["last_error"]

                assert "enable the MESSAGE CONTENT intent" in wait_for(lambda: error_of(refused))
                wait_for(lambda: lax.connected() == 1)
                lax.say(general, QUESTION)
                assert "lacks the MESSAGE CONTENT intent" in wait_for(lambda: error_of(blank))
                test = admin.post(f"/v1/connectors/{refused['id']}/test").json()
            assert test["ok"] is False
            [intent] = [c for c in test["checks"] if c["name"] == "MESSAGE CONTENT intent"]
            assert "Privileged Gateway Intents" in intent["detail"]
        finally:
            runner.close()


def test_a_rejected_bot_token_is_shown_on_the_connector(desk: LiveServer, discord: DiscordServer) -> None:
    os.environ["TEST_DISCORD_WRONG_TOKEN"] = "not-the-token"
    wrong = add_connector(desk, {"name": "wrong-token", "platform": "discord", "config": {
        "api_url": discord.api_url}, "credentials": {"bot_token": {"env": "TEST_DISCORD_WRONG_TOKEN"}}})
    runner = ConnectorRunner(desk.settings, desk.engine)
    runner.start_gateways({wrong["id"]})
    try:
        with desk.client("admin") as admin:
            error = wait_for(lambda: admin.get(f"/v1/connectors/{wrong['id']}").json()["last_error"])
    finally:
        runner.close()
    assert "cannot reach the gateway" in error and "401" in error
    assert "not-the-token" not in error


def test_a_burst_is_paced_by_the_bucket_headers_and_each_reply_posted_once(
    desk: LiveServer, discord: DiscordServer, connector: dict[str, Any], support: str
) -> None:
    # One thread each: a newer message in the same thread would make the older drafts stale.
    said = [discord.say(discord.channel(f"burst-{i}", parent_id=support), f"Question {i}: does the Trail fold?",
                        username=f"burst{i}") for i in range(5)]
    messages = [_message_of(desk, connector, s) for s in said]
    discord.bucket = {"x-ratelimit-limit": "1", "x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "0.2"}
    discord.fail("POST", r"/api/v10/channels/\d+/messages", 429, {"retry-after": "1"},
                 {"message": "You are being rate limited.", "retry_after": 0.2, "global": False}, times=2)
    try:
        with desk.client("cm") as cm:
            drafts = [pending_draft(cm, m.id or 0) for m in messages]
            for i, draft in enumerate(drafts):
                approve(cm, draft, f"Reply {i}: it does not fold.")
            for draft in drafts:
                delivery_of(cm, draft["id"])
    finally:
        discord.bucket = {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "4", "x-ratelimit-reset-after": "1"}
    assert [[r["content"] for r in discord.replies_to(s)] for s in said] == [
        [f"Reply {i}: it does not fold."] for i in range(5)]
