"""The published OpenAPI document tells the truth: ids are bounded, every error has its declared shape.

schemathesis fuzzes the live server's own ``/openapi.json`` with an installation admin key, a ``cm`` key
scoped to one workspace, and no key: no 5xx, every answer (errors included) matches the schema, and
calls without a key are refused. The run here is bounded (a few examples per operation) to stay within a
few minutes on a shared 2-core machine; the larger manual run is in docs/security.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from desk.keys import create_key
from desk.scope import Scope
from testkit.live import LiveServer

MAX_ID = 2**63 - 1
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = int(os.environ.get("REPLYDESK_FUZZ_EXAMPLES", "2"))


def test_ids_beyond_64_bits_are_refused_by_the_schema_not_a_500(live: LiveServer) -> None:
    """Out-of-range ids answer 422 with our error shape (they were a 500 OverflowError on SQLite)."""
    too_big = MAX_ID + 1
    with live.client("admin") as client:
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", f"/v1/drafts/{too_big}", {}),
            ("GET", f"/v1/drafts/{too_big}/history", {}),
            ("POST", f"/v1/drafts/{too_big}/release", {"headers": {"If-Match": '"1"'}}),
            ("GET", f"/v1/deliveries/{too_big}", {}),
            ("POST", f"/v1/deliveries/{too_big}/requeue", {}),
            ("GET", "/v1/audit", {"params": {"draft_id": too_big}}),
            ("GET", "/v1/deliveries", {"params": {"draft_id": too_big}}),
            ("GET", "/v1/drafts", {"params": {"offset": too_big}}),
            ("GET", f"/v1/messages/{too_big}", {}),
            ("GET", f"/v1/evals/runs/{too_big}", {}),
            ("DELETE", f"/v1/keys/{too_big}", {}),
        ]
        for method, url, extra in calls:
            response = client.request(method, url, **extra)
            assert response.status_code == 422, (method, url, response.status_code, response.text[:200])
            body = response.json()
            assert isinstance(body["detail"], str) and isinstance(body["errors"], list)
        stale = client.post(f"/v1/drafts/{MAX_ID}/release", headers={"If-Match": f'"{too_big}"'})
        assert stale.status_code == 400, stale.text
        at_bound = client.get(f"/v1/drafts/{MAX_ID}")
        assert at_bound.status_code == 404, at_bound.text


def test_every_error_answer_is_declared_with_its_real_shape(live: LiveServer) -> None:
    """422 is our ``{detail: str, errors: [...]}``, not FastAPI's HTTPValidationError; other errors are
    ``{detail: str}``; each operation behind a key declares 401 and 403, each by-id operation 404."""
    with live.client(None) as client:
        schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert components["ValidationErrorOut"]["properties"]["detail"]["type"] == "string"
    assert components["ErrorOut"]["properties"]["detail"]["type"] == "string"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            declared = operation["responses"]
            where = f"{method.upper()} {path}"
            if "422" in declared:
                assert declared["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
                    "/ValidationErrorOut"), where
            # Signed by the platform, not a key: the inbound webhook and the connectors' events routes.
            if path.startswith("/v1/") and path not in ("/v1/webhooks/{source}",
                                                        "/v1/connectors/{connector_id}/events"):
                assert {"401", "403"} <= set(declared), where
            if "_id}" in path:
                assert "404" in declared, where
                ids = [p for p in operation["parameters"] if p["in"] == "path" and p["name"].endswith("_id")
                       and p["schema"].get("type") == "integer"]
                assert all(p["schema"]["maximum"] == MAX_ID and p["schema"]["minimum"] == 1 for p in ids), where


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed (pip install -e '.[dev]')")
def test_schemathesis_finds_no_server_error_and_no_schema_violation(live: LiveServer, tmp_path: Path) -> None:
    """OWASP API1/API5 and API8 (security misconfiguration: an untruthful contract) as a fuzzer sees them:
    admin, workspace-scoped cm and anonymous callers; no 5xx, answers match the schema, no key no entry."""
    scoped = create_key(live.engine, "cm", "fuzz-cm", workspaces=Scope.of(["lumen"]))
    with live.client(None) as client:  # read once: a busy machine can take longer than the loader's timeout
        (tmp_path / "openapi.json").write_text(client.get("/openapi.json").text)
    # The admin run gets the coverage phase too (boundary values: ids past 64 bits and the like); it may not
    # revoke keys, or it would revoke its own and test the rest as anonymous.
    callers = {
        "admin": (live.keys["admin"], "coverage,fuzzing", ["--exclude-operation-id", "revoke_v1_keys__key_id__delete"]),
        "scoped-cm": (scoped, "fuzzing", []),
        "anonymous": (None, "fuzzing", []),
    }
    failures = []
    for name, (key, phases, extra) in callers.items():
        command = [
            str(SCHEMATHESIS), "run", "openapi.json", "--url", live.base_url,
            "--checks", "not_a_server_error,response_schema_conformance,ignored_auth",
            "--phases", phases, "--max-examples", str(EXAMPLES), "--seed", "1", "--no-color",
            "--request-timeout", "60", *extra,
        ]
        if key:
            command += ["-H", f"Authorization: Bearer {key}"]
        # The run writes .schemathesis/ into its working directory: a temp one.
        run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
        if run.returncode != 0:
            failures.append(f"--- {name} (exit {run.returncode})\n{run.stdout[-6000:]}{run.stderr[-2000:]}")
    assert not failures, "\n".join(failures)

