"""Connector configuration: the CLI and the admin API; credentials never echoed (stored encrypted or named
by environment variable), a configuration missing something refused naming it, and ``connectors test``
saying exactly what is missing against each platform."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from desk.db import make_engine
from ground import settings as settings_module
from replydesk.cli import app
from testkit.live import LiveServer
from testkit.platforms.discord import DiscordServer
from testkit.platforms.discourse import DiscourseServer
from testkit.platforms.meta import IG_USER_ID, PAGE_ID, MetaServer
from testkit.platforms.reddit import RedditServer
from tests.connectors.conftest import add_connector

cli = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(tmp_path / "data"))
    settings_module.get_settings.cache_clear()
    yield tmp_path / "data"
    settings_module.get_settings.cache_clear()


def test_cli_add_list_test_remove_never_shows_a_credential(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with DiscourseServer() as forum:
        monkeypatch.setenv("FORUM_HOOK_SECRET", forum.webhook_secret)
        added = cli.invoke(app, ["connectors", "add", "forum", "--platform", "discourse",
                                 "--set", f"base_url={forum.url}", "--set", f"username={forum.username}",
                                 "--secret", "api_key", "--secret", "webhook_secret=env:FORUM_HOOK_SECRET", "--json"],
                           input=forum.api_key + "\n")  # the value is prompted for, never an argument
        assert added.exit_code == 0, added.output
        view = json.loads(added.stdout)
        assert view["credentials"] == {"api_key": "stored (encrypted)",
                                       "webhook_secret": "env:FORUM_HOOK_SECRET (set)"}
        assert view["events_path"] == f"/v1/connectors/{view['id']}/events"
        listed = cli.invoke(app, ["connectors", "list", "--json"])
        assert forum.api_key not in listed.stdout and forum.webhook_secret not in listed.stdout
        engine = make_engine(settings_module.get_settings())
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT secrets FROM connectors")).scalar_one()
        engine.dispose()
        assert forum.api_key not in str(stored) and "FORUM_HOOK_SECRET" in str(stored)
        tested = cli.invoke(app, ["connectors", "test", str(view["id"])])
        assert tested.exit_code == 0, tested.output
        assert f"API key: acts as {forum.username}" in tested.stdout
        refused = cli.invoke(app, ["connectors", "add", "forum2", "--platform", "discourse", "--set",
                                   f"base_url={forum.url}", "--secret", "api_key=hunter2"])
        assert refused.exit_code == 1 and "never the value" in refused.output
        removed = cli.invoke(app, ["connectors", "remove", str(view["id"])])
        assert removed.exit_code == 0 and "removed" in removed.stdout
        assert json.loads(cli.invoke(app, ["connectors", "list", "--json"]).stdout) == []


def test_a_configuration_missing_something_is_refused_naming_it(desk: LiveServer) -> None:
    with desk.client("admin") as admin:
        missing = admin.post("/v1/connectors", json={"name": "half", "platform": "discourse",
                                                     "config": {"base_url": "https://forum.example.com"}})
        assert missing.status_code == 400
        assert "username" in missing.json()["detail"] and "secret api_key" in missing.json()["detail"]
        unknown = admin.post("/v1/connectors", json={"name": "x", "platform": "myspace"})
        assert unknown.status_code == 422
        both = admin.post("/v1/connectors", json={"name": "both", "platform": "discord",
                                                  "credentials": {"bot_token": {"env": "A", "value": "b"}}})
        assert both.status_code == 400 and "either" in both.json()["detail"]
        cm = desk.client("cm")
        assert cm.get("/v1/connectors").status_code == 403  # admins only
        cm.close()


def _test(desk: LiveServer, connector: dict[str, Any]) -> dict[str, Any]:
    with desk.client("admin") as admin:
        answer = admin.post(f"/v1/connectors/{connector['id']}/test")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_connectors_test_says_what_is_missing_on_each_platform(desk: LiveServer) -> None:
    with DiscourseServer() as forum, MetaServer() as graph, RedditServer() as reddit, DiscordServer() as discord:
        good_forum = add_connector(desk, {"name": "t-forum", "platform": "discourse", "config": {
            "base_url": forum.url, "username": forum.username}, "credentials": {
            "api_key": {"value": forum.api_key}, "webhook_secret": {"value": "s"}}})
        assert _test(desk, good_forum)["ok"] is True
        wrong_key = add_connector(desk, {"name": "t-forum-bad", "platform": "discourse", "config": {
            "base_url": forum.url, "username": forum.username}, "credentials": {
            "api_key": {"value": "nope"}, "webhook_secret": {"env": "T_FORUM_UNSET_SECRET"}}})
        result = _test(desk, wrong_key)
        assert result["ok"] is False
        assert any("create an API key for user replydesk-bot" in c["detail"] for c in result["checks"])

        meta = add_connector(desk, {"name": "t-meta", "platform": "meta", "config": {
            "page_id": PAGE_ID, "ig_user_id": IG_USER_ID, "graph_url": graph.graph_url}, "credentials": {
            "page_access_token": {"value": graph.token}, "app_secret": {"value": "a"}, "verify_token": {"value": "v"}}})
        assert _test(desk, meta)["ok"] is True
        meta_bad = add_connector(desk, {"name": "t-meta-bad", "platform": "meta", "config": {
            "page_id": PAGE_ID, "graph_url": graph.graph_url}, "credentials": {
            "page_access_token": {"value": "EAAwrong"}, "app_secret": {"value": "a"}, "verify_token": {"value": "v"}}})
        [token] = [c for c in _test(desk, meta_bad)["checks"] if c["name"] == "page access token"]
        assert not token["ok"] and "Invalid OAuth access token" in token["detail"]
        assert "pages_manage_engagement" in token["detail"]

        reddit_ok = add_connector(desk, {"name": "t-reddit", "platform": "reddit", "config": {
            "username": reddit.username, "subreddits": ["lumenbikes"], "oauth_url": reddit.url, "www_url": reddit.url},
            "credentials": {"client_id": {"value": reddit.client_id}, "client_secret": {"value": reddit.client_secret},
                            "password": {"value": reddit.password}}})
        assert _test(desk, reddit_ok)["ok"] is True
        reddit_bad = add_connector(desk, {"name": "t-reddit-bad", "platform": "reddit", "config": {
            "username": reddit.username, "oauth_url": reddit.url, "www_url": reddit.url},
            "credentials": {"client_id": {"value": reddit.client_id}, "client_secret": {"value": reddit.client_secret},
                            "password": {"value": "wrong"}}})
        [creds] = _test(desk, reddit_bad)["checks"]
        assert "invalid_grant" in creds["detail"] and "script" in creds["detail"]

        unset = add_connector(desk, {"name": "t-discord-unset", "platform": "discord", "config": {
            "api_url": discord.api_url}, "credentials": {"bot_token": {"env": "T_DISCORD_UNSET"}}})
        [missing] = _test(desk, unset)["checks"]
        assert "environment variable T_DISCORD_UNSET is not set" in missing["detail"]
        hidden = discord.channel("staff")
        discord.channels.pop(hidden)
        channels = add_connector(desk, {"name": "t-discord", "platform": "discord", "config": {
            "api_url": discord.api_url, "channels": [hidden]}, "credentials": {"bot_token": {"value": discord.token}}})
        checks = {c["name"]: c for c in _test(desk, channels)["checks"]}
        assert checks["bot token"]["ok"] and checks["MESSAGE CONTENT intent"]["ok"]
        assert not checks[f"channel {hidden}"]["ok"] and "View Channel" in checks[f"channel {hidden}"]["detail"]
        with desk.client("admin") as admin:
            listed = admin.get("/v1/connectors").text
        for secret in (forum.api_key, graph.token, reddit.password, reddit.client_secret, discord.token):
            assert secret not in listed


def test_a_platform_address_the_outbound_policy_refuses_is_refused_when_added(tmp_path: Path) -> None:
    """OWASP API7: a connector pointed at an internal or metadata address is refused at configuration time."""
    from connectors.config import Credential
    from connectors.config import add_connector as add
    from desk.db import migrate
    from desk.errors import UnprocessableEntity
    from desk.scope import INSTALLATION
    from testkit.live import make_settings

    settings = make_settings(tmp_path, outbound_allow="")  # as in production: loopback not allowed
    migrate(settings)
    engine = make_engine(settings)
    for url in ("http://127.0.0.1:8080", "http://169.254.169.254/latest", "http://10.0.0.5"):
        with pytest.raises(UnprocessableEntity, match="base_url refused"):
            add(settings, engine, workspace="default", name="forum", platform="discourse",
                config={"base_url": url, "username": "bot"},
                credentials={"api_key": Credential(value="k"), "webhook_secret": Credential(value="s")},
                actor=("test", "admin"), scope=INSTALLATION)
    engine.dispose()
