"""Spike alerts against a rolling baseline, posted to a real loopback webhook receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from desk.db import make_engine, migrate
from desk.inbound import MessageCreate
from desk.insight_tables import InsightAlert
from desk.queue import submit_message
from desk.scope import INSTALLATION
from ground.settings import Settings
from insights import alerts
from tests.conftest import LiveServer, make_settings
from tests.receiver import Receiver

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
NEGATIVE = [
    "my bike arrived broken, this is terrible",
    "awful support, still waiting for my refund",
    "really disappointed, the app keeps crashing",
    "worst purchase ever, the motor died after a week",
]
CALM = [
    "how long does shipping to the UK take?",
    "love the new Cargo, great job",
    "what colours does the Trail come in?",
    "thanks for the quick help!",
    "is there a student discount?",
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _setup(tmp_path: Path, receiver: Receiver) -> tuple[Settings, Engine]:
    settings = make_settings(tmp_path, alert_webhook_url=receiver.url, webhook_secret="s3cret")
    migrate(settings)
    return settings, make_engine(settings)


def _post(engine: Engine, ext: str, text: str, at: datetime, workspace: str = "default") -> None:
    body = MessageCreate(
        external_id=ext, platform="x", author={"id": ext, "handle": f"user_{ext}"}, text=text, received_at=at
    )
    submit_message(engine, body, workspace, scope=INSTALLATION)


def _steady(engine: Engine, start: datetime, hours: int, workspace: str = "default") -> None:
    """Six messages an hour; one in three negative (a normal day for a brand with delivery problems)."""
    for i in range(hours * 6):
        text = NEGATIVE[i % len(NEGATIVE)] if i % 3 == 0 else CALM[i % len(CALM)]
        _post(engine, f"{workspace}-steady-{i}", text, start + timedelta(minutes=10 * i), workspace)


def _burst(engine: Engine, start: datetime, n: int, tag: str, workspace: str = "default") -> None:
    for i in range(n):
        at = start + timedelta(seconds=30 * i)
        _post(engine, f"{workspace}-{tag}-{i}", NEGATIVE[i % len(NEGATIVE)], at, workspace)


def _ticks(engine: Engine, settings: Settings, start: datetime, end: datetime, minutes: int) -> list[InsightAlert]:
    raised = []
    at = start
    while at <= end:
        alert = alerts.check(engine, settings, "default", at)
        if alert is not None:
            raised.append(alert)
        at += timedelta(minutes=minutes)
    return raised


def test_steady_stream_raises_no_alert(tmp_path: Path, receiver: Receiver) -> None:
    settings, engine = _setup(tmp_path, receiver)
    _steady(engine, T0 - timedelta(hours=48), 48)
    raised = _ticks(engine, settings, T0 - timedelta(hours=24), T0, minutes=15)
    assert raised == []
    assert receiver.payloads() == []
    assert alerts.list_alerts(engine) == []


def test_negative_burst_raises_exactly_one_alert(tmp_path: Path, receiver: Receiver) -> None:
    settings, engine = _setup(tmp_path, receiver)
    _steady(engine, T0 - timedelta(hours=48), 48)
    _burst(engine, T0, 30, "burst")  # 30 angry messages in 15 minutes
    receiver.fail_all = True  # the first delivery attempt fails; the next tick retries it
    raised = _ticks(engine, settings, T0, T0 + timedelta(minutes=5), minutes=5)
    assert len(raised) == 1
    assert receiver.payloads() == []
    receiver.fail_all = False
    raised += _ticks(engine, settings, T0 + timedelta(minutes=10), T0 + timedelta(hours=3), minutes=5)
    # A second burst inside the cool-down is part of the same crisis: no second alert.
    _burst(engine, T0 + timedelta(hours=2), 30, "aftershock")
    raised += _ticks(engine, settings, T0 + timedelta(hours=2), T0 + timedelta(hours=3), minutes=5)

    assert len(raised) == 1
    assert len(receiver.payloads()) == 1
    post, headers = receiver.payloads()[0], receiver.received[0][0]
    assert post["type"] == "insights.alert"
    # It fired at the first tick inside the burst (10 angry messages in 5 minutes), before volume caught up.
    assert post["signals"] == ["negative_sentiment"]
    assert post["window"]["end"] == (T0 + timedelta(minutes=5)).isoformat()
    assert post["detail"]["negative"] >= 10 and post["detail"]["baseline_mean_count"] == pytest.approx(6, abs=0.5)
    assert "negative sentiment spiked" in post["text"]
    # Signed like reply deliveries (Standard Webhooks), and dedupable on webhook-id.
    stored = alerts.list_alerts(engine)
    assert [a.status for a in stored] == ["delivered"] and stored[0].attempts == 2
    assert headers["webhook-id"] == post["alert_id"] == stored[0].uid
    body = json.dumps(post, separators=(",", ":")).encode()
    digest = hmac.new(b"s3cret", f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body,
                      hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()

    # Long after the cool-down, a new crisis is a new alert.
    _burst(engine, T0 + timedelta(hours=8), 30, "later")
    again = _ticks(engine, settings, T0 + timedelta(hours=8), T0 + timedelta(hours=8, minutes=20), minutes=5)
    assert len(again) == 1 and len(receiver.payloads()) == 2


def test_concurrent_checks_fire_once(tmp_path: Path, receiver: Receiver) -> None:
    settings, engine = _setup(tmp_path, receiver)
    _steady(engine, T0 - timedelta(hours=24), 24)
    _burst(engine, T0, 30, "burst")
    at = T0 + timedelta(minutes=16)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: alerts.evaluate(engine, settings, "default", at), range(6)))
    assert sum(r is not None for r in results) == 1
    alerts.deliver(engine, settings)
    assert len(receiver.payloads()) == 1


def test_thresholds_are_configurable(tmp_path: Path, receiver: Receiver) -> None:
    settings, engine = _setup(tmp_path, receiver)
    _steady(engine, T0 - timedelta(hours=24), 24)
    _burst(engine, T0, 12, "small")  # 12 negatives: under the default volume floor, over the sentiment bar
    strict = settings.model_copy(update={"alert_negative_min": 20})
    assert alerts.evaluate(engine, strict, "default", T0 + timedelta(minutes=10)) is None
    alert = alerts.evaluate(engine, settings, "default", T0 + timedelta(minutes=10))
    assert alert is not None and alert.signals == ["negative_sentiment"]


def test_alert_check_over_http(tmp_path: Path, receiver: Receiver) -> None:
    settings = make_settings(tmp_path, alert_webhook_url=receiver.url, worker_enabled=False)
    server = LiveServer(settings).start()
    try:
        now = datetime.now(UTC)
        _steady(server.engine, now - timedelta(hours=24), 24)
        _burst(server.engine, now - timedelta(minutes=15), 30, "burst")
        with server.client("admin") as admin, server.client("viewer") as viewer:
            assert viewer.post("/v1/insights/alerts/check").status_code == 403
            first = admin.post("/v1/insights/alerts/check")
            assert first.status_code == 200, first.text
            assert first.json()["count"] == 1 and first.json()["data"][0]["status"] == "delivered"
            assert admin.post("/v1/insights/alerts/check").json()["count"] == 0
            listed = viewer.get("/v1/insights/alerts").json()
            assert listed["count"] == 1
        assert len(receiver.payloads()) == 1
    finally:
        server.stop()


def test_alert_text_cannot_ping_a_slack_channel() -> None:
    detail = {"count": 20, "negative": 18, "negative_share": 0.9, "baseline_negative_share": 0.2,
              "window_minutes": 60, "baseline_mean_count": 5.0, "themes": ["refund, <@U123>"],
              "examples": ["<!channel> you are all awful & slow"]}
    text = alerts.alert_text("default", ["negative_sentiment"], detail)
    assert "<!channel>" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt; you are all awful &amp; slow" in text
