"""Secrets never shown (issue 13, item 6).

OWASP API8:2023 Security misconfiguration — a webhook URL's credentials (userinfo, query values, path
tokens) never reach logs, stored errors or API answers, whoever reads them.
OWASP API3:2023 Broken object property level authorization — viewers see a delivery's target and error,
never the secret inside them.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from ground.redact import redact, redact_url
from testkit.live import LiveServer, make_settings, wait_for
from testkit.seed import seed_drafts
from tests.receiver import Receiver

PATH_TOKEN = "T0AAAAAAA/B0BBBBBBB/q7Zk2Lw9Xc4Vn8Rt1Yp3Hs6D"
QUERY_TOKEN = "sk-live-4f9a8b7c6d5e4f3a2b1c"
PASSWORD = "hunter2-Pa55word"
SECRETS = ("q7Zk2Lw9Xc4Vn8Rt1Yp3Hs6D", QUERY_TOKEN, PASSWORD)


@pytest.mark.parametrize(("text", "kept"), [
    (f"https://bot:{PASSWORD}@hooks.example.com/services/{PATH_TOKEN}?token={QUERY_TOKEN}#frag",
     "https://***@hooks.example.com/services/"),
    (f"HTTPStatusError: Server error '503' for url 'http://h.example/hook?access_token={QUERY_TOKEN}'",
     "HTTPStatusError: Server error '503' for url 'http://h.example/hook?access_token=***'"),
    (f"failed with Authorization: Bearer {QUERY_TOKEN} and xoxb-1234567890-abcdefghij", "failed with"),
    ("key 0123456789abcdef0123456789abcdef0123 and whsec_c2VjcmV0c2VjcmV0c2VjcmV0", "key *** and ***"),
])
def test_redact_removes_credentials_and_keeps_the_rest(text: str, kept: str) -> None:
    """API8: userinfo, query values, known token shapes and long random runs go; host and path stay."""
    out = redact(text)
    assert kept in out
    for secret in (*SECRETS, "xoxb-1234567890-abcdefghij", "0123456789abcdef0123456789abcdef0123", "whsec_c2Vj"):
        assert secret not in out


def test_redact_url_keeps_ordinary_urls_readable() -> None:
    assert redact_url("https://hooks.example.com/v1/replies?workspace=lumen") == \
        "https://hooks.example.com/v1/replies?workspace=***"
    assert redact("delivery 7f9c2ba4-e88f-11d1-a5d2-0000f8000000 failed") == \
        "delivery 7f9c2ba4-e88f-11d1-a5d2-0000f8000000 failed"


def test_failing_webhook_secret_appears_in_no_log_and_no_answer(
    tmp_path: Path, sample_chroma: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """API8/API3: a webhook whose URL carries a password, a path token and a query token fails; the relay's
    log lines, the stored error and every API answer a viewer can read are searched for the secrets."""
    with Receiver() as receiver:
        receiver.fail_all = True
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://bot:{PASSWORD}@127.0.0.1:{port}/hook/{PATH_TOKEN}?token={QUERY_TOKEN}"
        settings = make_settings(tmp_path, webhook_url=url, worker_enabled=False, delivery_max_attempts=1)
        shutil.copytree(sample_chroma, settings.chroma_dir)
        caplog.set_level(logging.INFO)
        server = LiveServer(settings).start()
        try:
            draft_id = seed_drafts(server.engine, 1)[0]
            with server.client("cm") as cm:
                assert cm.post(f"/v1/drafts/{draft_id}/approve", headers={"If-Match": '"1"'}).status_code == 200
            with server.client("viewer") as viewer:
                wait_for(lambda: viewer.get("/v1/deliveries").json()["data"][0]["status"] == "failed", timeout=60)
                answers = [viewer.get(path).text for path in (
                    "/v1/deliveries", "/v1/deliveries/1", f"/v1/drafts/{draft_id}", f"/v1/audit?draft_id={draft_id}")]
        finally:
            server.stop()
    assert len(receiver.received) == 0 and "503" in answers[0]  # it did fail, and says how
    logs = "\n".join(record.getMessage() for record in caplog.records)
    assert "delivery" in logs
    for secret in SECRETS:
        assert secret not in logs
        for answer in answers:
            assert secret not in answer
