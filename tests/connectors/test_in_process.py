"""The API process runs the pull and gateway connectors itself (REPLYDESK_CONNECTORS_ENABLED): a Reddit
comment and a Discord message become drafts with nobody polling by hand, and a removed connector stops."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from desk.models import Message
from testkit.live import LiveServer, make_settings, wait_for
from testkit.platforms.discord import DiscordServer
from testkit.platforms.reddit import RedditServer
from tests.connectors.conftest import add_connector


@pytest.fixture
def server(tmp_path: Path, sample_chroma: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, connector_poll_seconds=0.2)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    live = LiveServer(settings).start()
    yield live
    live.stop()


def _taken(server: LiveServer, external_id: str) -> bool:
    with Session(server.engine) as session:
        return session.exec(select(Message.id).where(col(Message.external_id) == external_id)).first() is not None


def test_the_api_process_polls_and_keeps_the_bot_connected(server: LiveServer) -> None:
    with RedditServer() as reddit, DiscordServer() as discord:
        channel = discord.channel("support")
        bot = add_connector(server, {"name": "bot", "platform": "discord", "config": {
            "api_url": discord.api_url, "channels": [channel]}, "credentials": {"bot_token": {"value": discord.token}}})
        poller = add_connector(server, {"name": "sub", "platform": "reddit", "config": {
            "username": reddit.username, "subreddits": ["lumenbikes"], "oauth_url": reddit.url,
            "www_url": reddit.url}, "credentials": {"client_id": {"value": reddit.client_id},
            "client_secret": {"value": reddit.client_secret}, "password": {"value": reddit.password}}})
        wait_for(lambda: discord.connected() == 1)
        said = discord.say(channel, "Does the Commuter fold?")
        wait_for(lambda: _taken(server, f"bot/{said['id']}"))
        post = reddit.post("lumenbikes", "Hello")
        wait_for(lambda: any(c.path == "/r/lumenbikes/new" for c in reddit.calls))  # the first pass: the cursor
        comment = reddit.comment(post, "How long does shipping take?")
        wait_for(lambda: _taken(server, f"sub/{comment['name']}"))
        with server.client("admin") as admin:
            assert admin.delete(f"/v1/connectors/{bot['id']}").status_code == 200
            assert admin.delete(f"/v1/connectors/{poller['id']}").status_code == 200
        wait_for(lambda: discord.connected() == 0)  # the removed bot leaves the gateway
