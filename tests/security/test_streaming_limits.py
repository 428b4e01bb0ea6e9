"""Limits while streaming (issue 13, item 4).

OWASP API4:2023 Unrestricted resource consumption — inbound webhook bodies and document uploads are refused
with 413 from their Content-Length, or as soon as a chunked body passes the cap, never after reading them
whole; an upload with nothing to ingest is a clear 4xx, not a 500.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.limits import UPLOAD_BODY, WEBHOOK_BODY
from testkit.live import LiveServer, make_settings
from tests.security.raw import announce_only, chunked


@pytest.fixture
def server(tmp_path: Path, sample_chroma: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, worker_enabled=False, relay_enabled=False)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    live = LiveServer(settings).start()
    with live.client("admin") as admin:
        assert admin.post("/v1/webhooks/sources", json={"source": "shop"}).status_code == 201
    yield live
    live.stop()


def test_webhook_body_over_the_cap_is_refused_from_its_length(server: LiveServer) -> None:
    """API4: a webhook announcing 100 MB is answered 413 before any of it is sent."""
    status, _h, body = announce_only(server.port, "POST", "/v1/webhooks/shop",
                                     {"Content-Length": str(100 * 1024 * 1024), "Content-Type": "application/json"})
    assert status == 413
    assert str(WEBHOOK_BODY) in body.decode()


def test_chunked_webhook_body_is_refused_as_it_passes_the_cap(server: LiveServer) -> None:
    """API4: without a Content-Length, the body is counted as it arrives: 413 once it passes the cap, while the
    client has not even finished sending."""
    piece = b"x" * 16384
    status, _h, _body = chunked(server.port, "POST", "/v1/webhooks/shop", {"Content-Type": "application/json"},
                                [piece] * (WEBHOOK_BODY // len(piece) + 2))
    assert status == 413


def test_upload_over_the_cap_is_refused_from_its_length(server: LiveServer) -> None:
    """API4: an upload announcing more than the cap is refused before it is spooled anywhere."""
    status, _h, _body = announce_only(server.port, "POST", "/v1/knowledge/documents", {
        "Content-Length": str(UPLOAD_BODY + 1), "Content-Type": "multipart/form-data; boundary=xyz",
        "Authorization": f"Bearer {server.keys['admin']}"})
    assert status == 413


def test_chunked_upload_is_refused_as_it_passes_the_cap(server: LiveServer) -> None:
    """API4: a chunked upload is counted as it arrives and refused once past the cap."""
    head = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.md\"\r\n\r\n"
    piece = b"y" * (1 << 20)
    status, _h, _body = chunked(server.port, "POST", "/v1/knowledge/documents", {
        "Content-Type": "multipart/form-data; boundary=xyz", "Authorization": f"Bearer {server.keys['admin']}"},
        [head, *[piece] * (UPLOAD_BODY // len(piece) + 2)])
    assert status == 413


@pytest.mark.parametrize("content", [b"", b"   \n\n  \n"])
def test_upload_with_nothing_to_ingest_is_a_clear_4xx(server: LiveServer, content: bytes) -> None:
    """API8: a file with nothing to ingest is a 4xx naming the file. (The route also no longer assumes the
    ingest report names a document: where it names none, the answer is a 422, not a StopIteration 500.)"""
    with server.client("admin") as admin:
        response = admin.post("/v1/knowledge/documents", files={"file": ("empty.md", content, "text/markdown")})
    assert 400 <= response.status_code < 500
    assert "empty.md" in response.json()["detail"]
