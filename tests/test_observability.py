"""Metrics for Prometheus and request ids in answers, logs and audit rows."""

from __future__ import annotations

import json
import logging

from prometheus_client.parser import text_string_to_metric_families

from ground.logs import JsonFormatter, RequestIdFilter, request_id_var
from tests.conftest import LiveServer, message_body, wait_for, wait_for_draft


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_cover_queue_timings_deliveries_and_requests(live: LiveServer) -> None:
    with live.client("cm") as cm:
        draft = wait_for_draft(cm, cm.post("/v1/messages", json=message_body("metrics-1")).json()["id"])
        cm.post(f"/v1/drafts/{draft['id']}/approve", headers={"If-Match": "1"})
        wait_for(lambda: cm.get("/v1/deliveries", params={"status": "delivered"}).json()["count"] == 1)
        response = cm.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert samples[("replydesk_queue_depth", (("status", "delivered"),))] == 1
    assert samples[("replydesk_deliveries_total", (("outcome", "delivered"),))] == 1
    assert samples[("replydesk_time_to_draft_seconds_count", ())] == 1
    assert samples[("replydesk_time_to_decision_seconds_count", ())] == 1
    assert samples[("replydesk_draft_graph_seconds_count", ())] == 1
    assert ("replydesk_llm_tokens_total", (("kind", "prompt"),)) in samples
    assert samples[("replydesk_jobs", (("status", "done"),))] >= 1
    approve = (("method", "POST"), ("route", "/v1/drafts/{draft_id}/approve"), ("status", "200"))
    assert samples[("replydesk_http_request_seconds_count", approve)] == 1


def test_request_ids_in_answers_and_json_logs(live: LiveServer) -> None:
    with live.client("viewer") as viewer:
        made = viewer.get("/v1/drafts")
        assert len(made.headers["x-request-id"]) == 32
        assert viewer.get("/v1/drafts", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
        odd = viewer.get("/v1/drafts", headers={"X-Request-ID": "no spaces <script>"})
        assert len(odd.headers["x-request-id"]) == 32  # unusable ids are replaced, not echoed
        assert viewer.get("/v1/nowhere").headers["x-request-id"]
    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord("replydesk.test", logging.INFO, __file__, 1, "drafted %s", ("x",), None)
        record.draft_id = 7
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req-42" and line["message"] == "drafted x" and line["draft_id"] == 7
