"""The outbound address policy (issue 13, item 5).

OWASP API7:2023 Server side request forgery — webhook, alert and digest URLs cannot make the server call
loopback, private, link-local (cloud metadata), multicast or reserved addresses, directly or through a
redirect, unless an operator allowed the address; refused targets are named at configuration time.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from desk.db import make_engine, migrate, session_scope
from desk.decisions import approve_draft
from desk.insight_tables import InsightAlert
from desk.models import Delivery
from desk.relay import Relay
from desk.scope import INSTALLATION
from ground.outbound import OutboundPolicy, OutboundRefused, guarded_client
from insights import alerts
from testkit.live import LiveServer, make_settings
from testkit.seed import seed_drafts
from tests.receiver import Receiver

REFUSED = [
    "http://127.0.0.1/", "http://127.9.9.9:8080/x", "http://localhost/", "http://[::1]/", "http://0.0.0.0/",
    "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/", "http://[::ffff:127.0.0.1]/", "http://100.100.100.200/", "http://224.0.0.1/",
    "http://240.0.0.1/", "http://2130706433/", "ftp://example.com/", "file:///etc/passwd",
    "http://[::1", "http://example.com:99999/",  # not URLs at all (a bracket left open, a port past 65535)
]


@pytest.mark.parametrize("url", REFUSED)
def test_policy_refuses_non_public_targets(url: str) -> None:
    """API7: every kind of internal address is refused, however it is spelled."""
    with pytest.raises(OutboundRefused):
        OutboundPolicy.parse("").check_url(url)


def test_allow_list_opens_only_what_it_names() -> None:
    """API7: REPLYDESK_OUTBOUND_ALLOW opens the listed networks and hosts, nothing else."""
    policy = OutboundPolicy.parse("10.0.0.0/8, 127.0.0.1, hooks.internal")
    policy.check_url("http://10.20.30.40/hook")
    policy.check_url("http://127.0.0.1:9000/hook")
    with pytest.raises(OutboundRefused):
        policy.check_url("http://127.0.0.2/hook")
    with pytest.raises(OutboundRefused):
        policy.check_url("http://169.254.169.254/")
    assert policy.addresses("127.0.0.1", 80) == ["127.0.0.1"]


def test_settings_refuse_internal_targets_at_start_up(tmp_path: Path) -> None:
    """API7: a webhook, alert or digest URL pointing inside is a configuration error naming the setting."""
    for name in ("webhook_url", "alert_webhook_url", "digest_slack_url"):
        with pytest.raises(ValueError, match=name):
            make_settings(tmp_path, outbound_allow="", **{name: "http://169.254.169.254/latest"})


def test_workspace_webhook_is_refused_at_configuration_time(tmp_path: Path) -> None:
    """API7: PUT a workspace webhook at the metadata address: 422, and nothing is stored."""
    server = LiveServer(make_settings(tmp_path, worker_enabled=False, relay_enabled=False)).start()
    try:
        with server.client("admin") as admin:
            for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.5:8080/hook", "http://[fd00::1]/",
                        "http://[::1"):  # a bracket left open was a 500 (urlsplit's ValueError)
                response = admin.put("/v1/workspaces/default/config", json={"webhook_url": url})
                assert response.status_code == 422, url
                assert "refused" in response.json()["detail"]
            assert admin.get("/v1/workspaces/default/config").json()["webhook_url"] is None
    finally:
        server.stop()


def test_relay_refuses_a_loopback_target_at_send_time(tmp_path: Path) -> None:
    """API7: a target that got into the configuration anyway (set before the policy, or a name that now
    resolves inside) is refused when sending: the receiver gets nothing and the delivery says why."""
    settings = make_settings(tmp_path, outbound_allow="", delivery_max_attempts=1)
    with Receiver() as receiver:
        relay_settings = settings.model_copy(update={"webhook_url": receiver.url})  # skips the start-up check
        migrate(relay_settings)
        engine = make_engine(relay_settings)
        draft_id = seed_drafts(engine, 1)[0]
        approve_draft(engine, draft_id, 1, None, ("cm", "cm"), "log:test", scope=INSTALLATION)
        relay = Relay(relay_settings, engine)
        relay.run_once()
        relay.close()
        with Session(engine) as session:
            delivery = session.exec(select(Delivery)).one()
        engine.dispose()
    assert receiver.received == []
    assert delivery.status == "failed"
    assert "OutboundRefused" in (delivery.last_error or "")


class _Server:
    """A loopback server that records every POST and answers it with ``status`` (and ``location``)."""

    def __init__(self, host: str = "127.0.0.1", status: int = 204, location: str = "") -> None:
        self.received: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.received.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
                self.send_response(status)
                if location:
                    self.send_header("location", location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()


def test_redirects_to_internal_addresses_are_not_followed(tmp_path: Path) -> None:
    """API7: an allowed target that redirects inside (here 127.0.0.2, not in the allow-list) does not take the
    server there: guarded clients follow no redirect, and one told to follow them checks each hop."""
    settings = make_settings(tmp_path, outbound_allow="127.0.0.1/32")
    with _Server("127.0.0.2") as inner:
        with _Server(status=307, location=inner.url) as redirector, guarded_client(settings, 5) as client:
            assert client.post(redirector.url, content=b"{}").status_code == 307
            with pytest.raises(OutboundRefused):
                client.post(redirector.url, content=b"{}", follow_redirects=True)
            assert len(redirector.received) == 2
        assert inner.received == []


def test_alerts_refuse_internal_targets_at_send_time(tmp_path: Path) -> None:
    """API7: an alert whose target points inside is not posted; its error says the policy refused it."""
    settings = make_settings(tmp_path, outbound_allow="")
    with Receiver() as receiver:
        migrate(settings)
        engine = make_engine(settings)
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            session.add(InsightAlert(uid="a-1", workspace="default", signals=["volume"], window_start=now,
                                     window_end=now, detail={"text": "spike"}, target=receiver.url))
        assert alerts.deliver(engine, settings) == 0
        with Session(engine) as session:
            alert = session.exec(select(InsightAlert)).one()
        engine.dispose()
    assert receiver.received == []
    assert "OutboundRefused" in (alert.last_error or "")


def test_guard_connects_to_the_address_it_checked(tmp_path: Path) -> None:
    """API7 (DNS rebinding): the connection is opened by the guard's backend to an address it resolved and
    checked itself; httpx's pool really uses that backend (an upgrade that ignored it fails here)."""
    with Receiver() as receiver:
        refusing = guarded_client(make_settings(tmp_path, outbound_allow=""), 5)
        with refusing, pytest.raises(OutboundRefused):
            refusing.post(receiver.url.replace("127.0.0.1", "localhost"), content=b"{}")
        allowing = guarded_client(make_settings(tmp_path, outbound_allow="127.0.0.0/8,::1"), 5)
        with allowing:
            assert allowing.post(receiver.url, content=b"{}").status_code == 204
    assert len(receiver.received) == 1
