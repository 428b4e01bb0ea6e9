"""Intake → draft through each connector, beside ``POST /v1/messages`` in the same run.

One live Replydesk (offline composer, sample brand) and a loopback server per platform. Rounds take one
message down each path in turn — the API baseline, a signed Discourse webhook, a signed Meta webhook, a
Reddit comment taken by a poller pass, a Discord MESSAGE_CREATE on the gateway — and time (a) the intake
call (the HTTP answer; for Reddit the poll pass; for Discord the dispatch until the message is stored) and
(b) event → pending draft. Printed as medians, p95 and ratios to the baseline of the same run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlmodel import col, select

from connectors.runner import ConnectorRunner
from desk.db import read_session
from desk.models import Draft, Message
from knowledge.ingest import ingest_paths
from knowledge.store import KnowledgeStore
from testkit.live import SAMPLES, LiveServer, make_settings, wait_for
from testkit.platforms.discord import DiscordServer
from testkit.platforms.discourse import DiscourseServer
from testkit.platforms.meta import IG_USER_ID, PAGE_ID, MetaServer
from testkit.platforms.reddit import RedditServer

ROUNDS = int(os.environ.get("BENCH_CONNECTOR_ROUNDS", "15"))
QUESTIONS = ["How long does shipping to the UK take?", "Does the Commuter fold?", "How long to charge the battery?",
             "Can I return my bike after 20 days?", "Is the Trail waterproof?"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _add(client: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    answer = client.post("/v1/connectors", json=body)
    answer.raise_for_status()
    return dict(answer.json())


def _drafted(server: LiveServer, external_id: str) -> bool:
    with read_session(server.engine) as session:
        return session.exec(select(Draft.id).join(Message, col(Message.id) == col(Draft.message_id))
                            .where(col(Message.external_id) == external_id)).first() is not None


def _stored(server: LiveServer, external_id: str) -> bool:
    with read_session(server.engine) as session:
        return session.exec(select(Message.id).where(col(Message.external_id) == external_id)).first() is not None


def _drafted_check(server: LiveServer, external_id: str) -> Callable[[], bool]:
    return lambda: _drafted(server, external_id)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="replydesk-bench-connectors-"))
    settings = make_settings(workdir, connectors_enabled=False, worker_poll_seconds=0.01)
    ingest_paths(KnowledgeStore(settings), [SAMPLES / "knowledge", SAMPLES / "guidelines"], "default")
    server = LiveServer(settings).start()
    with DiscourseServer() as forum, MetaServer() as graph, RedditServer() as reddit, DiscordServer() as discord:
        admin, cm, anonymous = server.client("admin"), server.client("cm"), server.client(None)
        forum_c = _add(admin, {"name": "forum", "platform": "discourse", "config": {
            "base_url": forum.url, "username": forum.username}, "credentials": {
            "api_key": {"value": forum.api_key}, "webhook_secret": {"value": forum.webhook_secret}}})
        meta_c = _add(admin, {"name": "meta", "platform": "meta", "config": {
            "page_id": PAGE_ID, "ig_user_id": IG_USER_ID, "graph_url": graph.graph_url}, "credentials": {
            "page_access_token": {"value": graph.token}, "app_secret": {"value": graph.app_secret},
            "verify_token": {"value": "v"}}})
        reddit_c = _add(admin, {"name": "reddit", "platform": "reddit", "config": {
            "username": reddit.username, "subreddits": ["bench"], "inbox": False, "oauth_url": reddit.url,
            "www_url": reddit.url}, "credentials": {"client_id": {"value": reddit.client_id},
            "client_secret": {"value": reddit.client_secret}, "password": {"value": reddit.password}}})
        channel = discord.channel("support")
        _add(admin, {"name": "discord", "platform": "discord", "config": {
            "api_url": discord.api_url, "channels": [channel]}, "credentials": {
            "bot_token": {"value": discord.token}}})
        runner = ConnectorRunner(settings, server.engine)
        runner.start_gateways()
        wait_for(lambda: discord.connected() == 1)
        topic = forum.new_topic("Bench", "Welcome!", username="sam")
        post = reddit.post("bench", "Bench thread", author="sam")
        runner.poll_once(int(str(reddit_c["id"])))  # the cursor starts here

        def api(i: int) -> tuple[str, Callable[[], object]]:
            body = {"external_id": f"api-{i + 1}", "platform": "x", "text": QUESTIONS[i % 5],
                    "author": {"id": f"u{i}", "handle": f"user{i}"}}
            return f"api-{i + 1}", lambda: cm.post("/v1/messages", json=body).raise_for_status()

        def discourse(i: int) -> tuple[str, Callable[[], object]]:
            item = forum.add_post(topic["topic_id"], QUESTIONS[i % 5], f"user{i}", 100 + i)
            headers, body = forum.event("post_created", item)
            return f"forum/{item['id']}", lambda: anonymous.post(str(forum_c["events_path"]), content=body,
                                                                  headers=headers).raise_for_status()

        def meta(i: int) -> tuple[str, Callable[[], object]]:
            comment = graph.comment("facebook", QUESTIONS[i % 5], author_id=str(9001 + i))
            headers, body = graph.event(comment)
            return f"meta/{comment['id']}", lambda: anonymous.post(str(meta_c["events_path"]), content=body,
                                                                   headers=headers).raise_for_status()

        def reddit_poll(i: int) -> tuple[str, Callable[[], object]]:
            comment = reddit.comment(post, QUESTIONS[i % 5], author=f"user{i}")
            return f"reddit/{comment['name']}", lambda: runner.poll_once(int(str(reddit_c["id"])))

        def gateway(i: int) -> tuple[str, Callable[[], object]]:
            said: dict[str, str] = {}

            def send() -> None:
                said.update(discord.say(channel, QUESTIONS[i % 5], author_id=str(5000 + i), username=f"user{i}"))
                wait_for(lambda: _stored(server, f"discord/{said['id']}"), interval=0.002)

            return "", send  # the message id is known only once it is said: resolved after send()

        paths: dict[str, Callable[[int], tuple[str, Callable[[], object]]]] = {
            "POST /v1/messages": api, "discourse webhook": discourse, "meta webhook": meta,
            "reddit poll": reddit_poll, "discord gateway": gateway}
        intake: dict[str, list[float]] = {name: [] for name in paths}
        to_draft: dict[str, list[float]] = {name: [] for name in paths}
        for i in range(-1, ROUNDS):  # round -1 warms every path up (models load, clients connect): not counted
            for name, make in paths.items():
                external, send = make(i)
                started = time.perf_counter()
                before = len(discord.messages[channel])
                send()
                intake[name].append(time.perf_counter() - started)
                if name == "discord gateway":
                    external = f"discord/{discord.messages[channel][before]['id']}"
                wait_for(_drafted_check(server, external), interval=0.005)
                if i >= 0:
                    to_draft[name].append(time.perf_counter() - started)
                else:
                    intake[name].pop()
        runner.close()
        for client in (admin, cm, anonymous):
            client.close()
    server.stop()
    base_in = statistics.median(intake["POST /v1/messages"])
    base_draft = statistics.median(to_draft["POST /v1/messages"])
    print(f"{ROUNDS} messages per path, interleaved; load {os.getloadavg()[0]:.1f}")
    print(f"{'path':<20} {'intake median':>14} {'p95':>8} {'x API':>6} {'→ draft median':>15} {'p95':>8} {'x API':>6}")
    for name in paths:
        med_in, med_draft = statistics.median(intake[name]), statistics.median(to_draft[name])
        print(f"{name:<20} {med_in * 1000:>11.1f} ms {_percentile(intake[name], 0.95) * 1000:>5.0f} ms "
              f"{med_in / base_in:>6.2f} {med_draft * 1000:>12.1f} ms "
              f"{_percentile(to_draft[name], 0.95) * 1000:>5.0f} ms {med_draft / base_draft:>6.2f}")


if __name__ == "__main__":
    main()
