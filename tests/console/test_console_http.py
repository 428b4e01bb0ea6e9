"""The console's pages over real HTTP (uvicorn on loopback, real SQLite): the session cookie's flags, CSRF,
sign-out, a revoked key ending its sessions, the server refusing what a role may not do, workspace scope,
reject reasons, and conflicts. The browser suite (test_console_browser.py) drives the same pages in Chromium."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute
from sqlmodel import Session, select

from api.app import create_app
from desk.keys import revoke_key
from desk.models import Delivery, Draft
from tests.console.conftest import Console, csrf_of


def test_sign_in_sets_a_strict_http_only_cookie_and_never_echoes_the_key(console: Console) -> None:
    key = console.key("cm")
    client = console.client()
    form = client.get("/signin")
    done = client.post("/signin", data={"api_key": key, "csrf_token": csrf_of(form), "next": "/"})
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("rd_session="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http on loopback
    assert key not in cookie
    page = client.get("/")
    assert page.status_code == 200 and key not in page.text
    assert 'data-testid="role">cm<' in page.text


def test_the_cookie_is_secure_behind_https(console: Console) -> None:
    client = console.client()
    form = client.get("/signin", headers={"X-Forwarded-Proto": "https"})
    nonce = form.cookies["rd_signin"]  # a Secure cookie: the client keeps it for https only, so it is sent by hand
    done = client.post("/signin", headers={"X-Forwarded-Proto": "https", "Cookie": f"rd_signin={nonce}"},
                       data={"api_key": console.key("cm"), "csrf_token": csrf_of(form)})
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("rd_session="))
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_a_wrong_key_is_refused_and_a_page_without_session_asks_to_sign_in(console: Console) -> None:
    client = console.client()
    refused = client.post("/signin", data={"api_key": "rdk_not-a-key", "csrf_token": csrf_of(client.get("/signin"))})
    assert refused.status_code == 401 and "not valid" in refused.text
    assert "rd_session" not in refused.headers.get("set-cookie", "")
    asked = console.client().get("/drafts/1")
    assert asked.status_code == 303 and asked.headers["location"].startswith("/signin?next=%2Fdrafts%2F1")


def test_sign_in_without_its_form_token_is_refused(console: Console) -> None:
    """Login CSRF: a cross-site form cannot sign the browser in to someone else's session."""
    refused = console.client().post("/signin", data={"api_key": console.key("cm"), "csrf_token": "forged"})
    assert refused.status_code == 403
    assert "rd_session" not in refused.headers.get("set-cookie", "")


def test_sign_in_only_redirects_within_the_console(console: Console) -> None:
    client = console.client()
    done = client.post("/signin", data={"api_key": console.key("viewer"), "csrf_token": csrf_of(client.get("/signin")),
                                        "next": "//evil.example/steal"})
    assert done.headers["location"] == "/"


def test_a_form_without_the_csrf_token_changes_nothing(console: Console) -> None:
    [draft_id] = console.drafts(1)
    client = console.sign_in(console.key("cm"))
    for token in ("", "forged"):
        refused = client.post(f"/drafts/{draft_id}/approve", data={"csrf_token": token, "version": "1"})
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert console.draft(draft_id).status == "pending"


def test_a_write_without_a_session_is_sent_to_sign_in_before_its_body_is_read(console: Console) -> None:
    [draft_id] = console.drafts(1)
    refused = console.client().post(f"/drafts/{draft_id}/approve", data={"csrf_token": "x", "version": "1"})
    assert refused.status_code == 303 and refused.headers["location"] == "/signin?expired=1"
    forged = console.client()
    forged.cookies.set("rd_session", "eyJrIjogMX0.forged")
    assert forged.post(f"/drafts/{draft_id}/approve", data={"version": "1"}).status_code == 303
    assert console.draft(draft_id).status == "pending"


def test_revoking_the_key_signs_its_sessions_out(console: Console) -> None:
    key = console.key("cm", name="soon-revoked")
    [draft_id] = console.drafts(1)
    client = console.sign_in(key)
    page = client.get(f"/drafts/{draft_id}")
    assert page.status_code == 200
    revoke_key(console.live.engine, key[:12])
    assert client.get("/").headers["location"].startswith("/signin")
    late = client.post(f"/drafts/{draft_id}/approve", data={"csrf_token": csrf_of(page), "version": "1"})
    assert late.status_code == 303 and late.headers["location"] == "/signin?expired=1"
    assert console.draft(draft_id).status == "pending"


def test_sign_out_clears_the_cookie_and_ends_copies_of_it(console: Console) -> None:
    key = console.key("viewer")
    client = console.sign_in(key)
    page = client.get("/")
    copied = console.client()
    copied.cookies.set("rd_session", client.cookies["rd_session"])
    assert copied.get("/").status_code == 200
    out = client.post("/signout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 303 and out.headers["location"].startswith("/signin")
    assert client.get("/").status_code == 303
    assert copied.get("/").status_code == 303  # the cookie's copy is over too
    assert console.sign_in(key).get("/").status_code == 200


def test_a_viewer_sees_no_action_and_the_server_refuses_one_anyway(console: Console) -> None:
    [draft_id] = console.drafts(1)
    client = console.sign_in(console.key("viewer"))
    page = client.get(f"/drafts/{draft_id}")
    assert page.status_code == 200
    for action in ("approve", "reject", "regenerate", "claim", "edit"):
        assert f"/drafts/{draft_id}/{action}" not in page.text
    assert "bulk-approve" not in client.get("/").text
    token = csrf_of(page)
    refused = client.post(f"/drafts/{draft_id}/approve", data={"csrf_token": token, "version": "1"})
    assert refused.status_code == 403 and "cm role" in refused.text
    bulk = client.post("/bulk", data={"csrf_token": token, "action": "approve", "pick": f"{draft_id}:1"})
    assert bulk.status_code == 403
    assert console.draft(draft_id).status == "pending"


def test_another_workspaces_draft_does_not_exist(console: Console) -> None:
    [own] = console.drafts(1, workspace="lumen")
    [other] = console.drafts(1, workspace="nova")
    client = console.sign_in(console.key("cm", "lumen"))
    assert client.get(f"/drafts/{own}").status_code == 200
    hidden = client.get(f"/drafts/{other}")
    assert hidden.status_code == 404 and "not found" in hidden.text
    queue = client.get("/", params={"status": "all"})
    assert f'data-id="{own}"' in queue.text and f'data-id="{other}"' not in queue.text
    assert client.get("/", params={"workspace": "nova"}).status_code == 403
    token = csrf_of(queue)
    refused = client.post(f"/drafts/{other}/approve", data={"csrf_token": token, "version": "1"})
    assert refused.status_code == 404
    bulk = client.post("/bulk", data={"csrf_token": token, "action": "approve", "pick": [f"{own}:1", f"{other}:1"]})
    results = client.get(bulk.headers["location"]).text
    assert "1 done, 1 not" in results and "not found" in results
    assert console.draft(other).status == "pending" and console.draft(own).status in ("approved", "delivered")


def test_reject_with_a_reason_is_stored_and_filterable(console: Console) -> None:
    [draft_id] = console.drafts(1)
    client = console.sign_in(console.key("cm"))
    token = csrf_of(client.get(f"/drafts/{draft_id}"))
    needs_note = client.post(f"/drafts/{draft_id}/reject", data={"csrf_token": token, "version": "1",
                                                                 "category": "other"})
    assert needs_note.status_code == 400
    done = client.post(f"/drafts/{draft_id}/reject", data={"csrf_token": token, "version": "1",
                                                           "category": "outdated", "note": "old price"})
    assert done.status_code == 303
    draft = console.draft(draft_id)
    assert (draft.status, draft.reject_category, draft.reject_reason) == ("rejected", "outdated", "old price")
    listed = client.get("/", params={"status": "rejected", "reason": "outdated"}).text
    assert f'data-id="{draft_id}"' in listed
    assert f'data-id="{draft_id}"' not in client.get("/", params={"status": "rejected", "reason": "incorrect"}).text


def test_a_stale_approval_shows_what_changed_and_keeps_the_edit(console: Console) -> None:
    [draft_id] = console.drafts(1)
    alex, sam = console.sign_in(console.key("cm", name="Alex")), console.sign_in(console.key("cm", name="Sam"))
    alex_page, sam_page = alex.get(f"/drafts/{draft_id}"), sam.get(f"/drafts/{draft_id}")
    edited = alex.post(f"/drafts/{draft_id}/edit", data={"csrf_token": csrf_of(alex_page), "version": "1",
                                                         "text": "Alex's careful answer."})
    assert edited.status_code == 303
    late = sam.post(f"/drafts/{draft_id}/approve", data={"csrf_token": csrf_of(sam_page), "version": "1",
                                                         "text": "Sam's own answer."})
    assert late.status_code == 412
    assert "changed while you were working" in late.text and "edit by Alex" in late.text
    assert "Sam&#39;s own answer." in late.text  # kept in the editor to re-apply
    assert 'name="version" value="2"' in late.text
    draft = console.draft(draft_id)
    assert draft.status == "pending" and draft.text == "Alex's careful answer."


def test_someone_elses_claim_is_shown_and_holds(console: Console) -> None:
    [draft_id] = console.drafts(1)
    alex, sam = console.sign_in(console.key("cm", name="Alex")), console.sign_in(console.key("cm", name="Sam"))
    page = alex.get(f"/drafts/{draft_id}")
    assert alex.post(f"/drafts/{draft_id}/claim", data={"csrf_token": csrf_of(page), "version": "1"}).status_code == 303
    seen = sam.get(f"/drafts/{draft_id}")
    assert "Alex is on this draft" in seen.text
    blocked = sam.post(f"/drafts/{draft_id}/approve", data={"csrf_token": csrf_of(seen), "version": "2"})
    assert blocked.status_code == 409 and "claimed by Alex" in blocked.text
    assert console.draft(draft_id).status == "pending"
    assert "Alex" in sam.get("/", params={"assignee": ""}).text


def test_approve_then_next_writes_one_delivery_and_opens_the_next_draft(console: Console) -> None:
    first, _second = console.drafts(2)
    client = console.sign_in(console.key("cm"))
    page = client.get(f"/drafts/{first}")
    done = client.post(f"/drafts/{first}/approve", data={"csrf_token": csrf_of(page), "version": "1",
                                                         "text": "Edited and sent.", "then": "next"})
    assert done.status_code == 303 and done.headers["location"].startswith("/drafts/")
    assert done.headers["location"] != f"/drafts/{first}?flash=approved"
    with Session(console.live.engine) as session:
        from sqlmodel import col, select

        rows = session.exec(select(Delivery).where(col(Delivery.draft_id) == first)).all()
    assert [r.text for r in rows] == ["Edited and sent."]


def test_only_an_admin_uploads_and_each_file_gets_its_own_result(console: Console) -> None:
    cm = console.sign_in(console.key("cm"))
    token = csrf_of(cm.get("/knowledge"))
    files = [("files", ("a.md", b"# A\n\nThe answer about apples.\n", "text/markdown"))]
    assert cm.post("/knowledge/upload", data={"csrf_token": token}, files=files).status_code == 403
    admin = console.sign_in(console.key("admin"))
    token = csrf_of(admin.get("/knowledge"))
    files = [("files", ("apples.md", b"# Apples\n\nOur bikes carry apples in the rear rack.\n", "text/markdown")),
             ("files", ("empty.txt", b"", "text/plain"))]
    done = admin.post("/knowledge/upload", data={"csrf_token": token}, files=files)
    assert done.status_code == 303
    page = admin.get(done.headers["location"]).text
    assert "apples.md</strong>: ingested" in page and "empty.txt</strong>: refused" in page
    forged = admin.get("/knowledge", params={"uploaded": "W3sibmFtZSI6ICJ4In1d.forged"}).text
    assert "Upload results" not in forged


def test_insights_count_rejections_by_reason_and_draw_charts_as_svg(console: Console) -> None:
    [draft_id] = console.drafts(1, workspace="insight")
    client = console.sign_in(console.key("cm", "insight"))
    token = csrf_of(client.get(f"/drafts/{draft_id}"))
    client.post(f"/drafts/{draft_id}/reject",
                data={"csrf_token": token, "version": "1", "category": "already_answered"})
    page = client.get("/insights")
    assert page.status_code == 200
    assert "<svg" in page.text
    assert "://" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', page.text))  # nothing fetched from elsewhere
    reasons = page.text.split('data-testid="reject-reasons"', 1)[1].split("</table>", 1)[0]
    assert "already answered" in reasons and "<td>1</td>" in reasons


def test_eval_runs_are_for_installation_wide_keys_only(console: Console) -> None:
    assert console.sign_in(console.key("viewer")).get("/evals").status_code == 200
    assert console.sign_in(console.key("viewer", "lumen")).get("/evals").status_code == 403


def test_admin_creates_a_key_shown_once_that_signs_in_and_revokes_it(console: Console) -> None:
    assert console.sign_in(console.key("cm")).get("/admin").status_code == 403
    admin = console.sign_in(console.key("admin", "lumen"))
    page = admin.get("/admin")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    made = admin.post("/admin/keys", data={"csrf_token": csrf_of(page), "role": "cm", "name": "Jo", "workspaces": ""})
    assert made.status_code == 201
    key = made.text.split('id="new-key-value" readonly value="', 1)[1].split('"', 1)[0]
    assert key.startswith("rdk_") and key not in admin.get("/admin").text
    jo = console.sign_in(key)
    assert 'data-testid="workspaces">lumen<' in jo.get("/").text
    beyond = admin.post("/admin/keys", data={"csrf_token": csrf_of(page), "role": "cm", "workspaces": "nova"})
    assert beyond.status_code == 403
    key_id = next(row.split("<td>", 2)[1].split("<", 1)[0] for row in admin.get("/admin").text.split(
        'data-testid="key-row"')[1:] if "<td>Jo</td>" in row)
    assert admin.post(f"/admin/keys/{key_id}/revoke", data={"csrf_token": csrf_of(page)}).status_code == 303
    assert jo.get("/").status_code == 303


def _walk(routes: list[Any]) -> list[Any]:
    found: list[Any] = []
    for route in routes:
        found += _walk(route.original_router.routes) if hasattr(route, "original_router") else [route]
    return found


def _console_routes() -> list[tuple[str, str]]:
    pages = [r for r in _walk(create_app().routes)
             if isinstance(r, APIRoute) and r.endpoint.__module__.startswith("console.")]
    return sorted((method, route.path) for route in pages for method in (route.methods or set()) - {"HEAD"})


def test_every_console_page_and_action_needs_a_session(console: Console) -> None:
    """Walks every console route (a new one is covered without listing it): without a session a page sends
    the browser to sign in, and a write is turned away before its body is read. Only sign-in itself is open."""
    routes = _console_routes()
    assert ("POST", "/drafts/{draft_id}/approve") in routes and len(routes) >= 20
    client = console.client()
    for method, path in routes:
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        answer = client.request(method, concrete, data={"csrf_token": "x", "version": "1"})
        if path == "/signin":
            assert answer.status_code in (200, 403), (method, path, answer.status_code)
            continue
        assert answer.status_code == 303, (method, path, answer.status_code)
        assert answer.headers["location"].startswith("/signin"), (method, path)


def test_an_id_beyond_64_bits_is_not_found(console: Console) -> None:
    client = console.sign_in(console.key("cm"))
    assert client.get(f"/drafts/{2**70}").status_code == 404
    token = csrf_of(client.get("/"))
    assert client.post(f"/drafts/{2**70}/approve", data={"csrf_token": token, "version": "1"}).status_code == 404
    assert client.get("/queue/new", params={"since": str(2**70)}).status_code == 200
    assert client.get("/", params={"after": f"{2**70}~{2**70}"}).status_code == 400


def test_an_unknown_console_page_is_a_page_and_an_unknown_api_path_stays_json(console: Console) -> None:
    client = console.sign_in(console.key("viewer"))
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    api = console.client().get("/v1/no-such-thing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_bulk_reject_with_a_reason_and_regenerate_with_instructions(console: Console) -> None:
    first, second, third = console.drafts(3)
    client = console.sign_in(console.key("cm"))
    token = csrf_of(client.get("/"))
    no_reason = client.post("/bulk", data={"csrf_token": token, "action": "reject", "pick": [f"{first}:1"]})
    assert no_reason.status_code == 400
    done = client.post("/bulk", data={"csrf_token": token, "action": "reject", "category": "incorrect",
                                      "pick": [f"{first}:1", f"{second}:7"]})
    results = client.get(done.headers["location"]).text
    assert "1 done, 1 not" in results and "changed since you loaded the queue" in results
    assert (console.draft(first).status, console.draft(first).reject_category) == ("rejected", "incorrect")
    assert console.draft(second).status == "pending"
    again = client.post(f"/drafts/{third}/regenerate", data={"csrf_token": token, "version": "1",
                                                             "instructions": "shorter"})
    assert again.status_code == 303
    assert console.draft(third).status in ("regenerating", "pending")  # the worker may already have redrafted it
    assert console.draft(third).version >= 2


def test_a_gap_suggestion_is_accepted_with_an_edited_answer(console: Console) -> None:
    from desk.insight_tables import GapSuggestion

    with Session(console.live.engine) as session:
        gap = GapSuggestion(workspace="default", question="Do you ship to Iceland?", count=4,
                            examples=["ship to iceland?"])
        session.add(gap)
        session.commit()
        gap_id = gap.id
    client = console.sign_in(console.key("admin"))
    page = client.get("/knowledge")
    assert "Do you ship to Iceland?" in page.text
    done = client.post(f"/knowledge/gaps/{gap_id}/accept", data={
        "csrf_token": csrf_of(page), "question": "Do you ship to Iceland?",
        "answer": "Yes: Iceland orders ship from our Dutch warehouse in 5-8 working days."})
    assert done.status_code == 303
    with Session(console.live.engine) as session:
        stored = session.get(GapSuggestion, gap_id)
        assert stored is not None and stored.status == "accepted" and (stored.answer or "").startswith("Yes: Iceland")
    hits = client.get("/knowledge", params={"q": "shipping to Iceland"}).text
    assert "Dutch warehouse" in hits


def test_eval_runs_their_cases_a_comparison_and_the_html_report(console: Console) -> None:
    from desk.eval_tables import EvalCaseResult, EvalRun

    with Session(console.live.engine) as session:
        runs = [EvalRun(label=label, status="finished", suites=["tone"], summary={"pass_rate": rate})
                for label, rate in (("before", 1.0), ("after", 0.5))]
        session.add_all(runs)
        session.commit()
        ids = [int(r.id or 0) for r in runs]
        for run_id, verdicts in zip(ids, (("pass", "pass"), ("pass", "fail")), strict=True):
            session.add_all([EvalCaseResult(run_id=run_id, suite="tone", case_id=f"case-{n}", verdict=verdict,
                                            pass_rate=1.0 if verdict == "pass" else 0.0, mean_score=0.9)
                             for n, verdict in enumerate(verdicts)])
        session.commit()
    client = console.sign_in(console.key("viewer"))
    listed = client.get("/evals").text
    assert f'href="/evals/runs/{ids[0]}"' in listed and "after" in listed
    cases = client.get(f"/evals/runs/{ids[1]}", params={"verdict": "fail"}).text
    assert "case-1" in cases and "case-0" not in cases
    report = client.get(f"/evals/runs/{ids[1]}/report")
    assert report.status_code == 200 and "case-1" in report.text
    compared = client.get("/evals", params={"a": ids[0], "b": ids[1]}).text
    assert 'data-testid="comparison"' in compared and "tone/case-1" in compared


def test_an_admin_deletes_a_document(console: Console) -> None:
    admin = console.sign_in(console.key("admin"))
    token = csrf_of(admin.get("/knowledge"))
    files = [("files", ("pears.md", b"# Pears\n\nThe rear rack also carries pears.\n", "text/markdown"))]
    admin.post("/knowledge/upload", data={"csrf_token": token}, files=files)
    doc = next(d for d in console.live_store().documents("default") if d.source == "upload/pears.md")
    done = admin.post(f"/knowledge/documents/{doc.id}/delete", data={"csrf_token": token})
    assert done.status_code == 303 and "flash=deleted" in done.headers["location"]
    assert all(d.source != "upload/pears.md" for d in console.live_store().documents("default"))
    assert admin.post("/knowledge/documents/0123456789abcdef/delete", data={"csrf_token": token}).status_code == 404


def test_the_risk_filter_lists_exactly_the_drafts_with_that_flag(console: Console) -> None:
    """Flags come from triage, written by the worker (the sample's safety escalation) and by the seed; the
    queue's risk filter finds every draft with the flag and no other."""
    seeded = console.drafts(50)  # the 25th and 50th carry "safety", the 32nd "legal"
    with Session(console.live.engine) as session:
        drafts = session.exec(select(Draft)).all()
        flagged = {d.id for d in drafts if "safety" in (d.triage.get("risk_flags") or [])}
        by_worker = {d.id for d in drafts if d.id not in seeded and "safety" in (d.triage.get("risk_flags") or [])}
    assert by_worker, "the sample messages include a safety escalation drafted by the worker"
    assert {seeded[24], seeded[49]} <= flagged and seeded[31] not in flagged
    client = console.sign_in(console.key("viewer"))
    listed = {int(i) for i in re.findall(r'data-id="(\d+)"', client.get("/", params={"risk": "safety",
                                                                                      "status": "all"}).text)}
    assert listed == flagged
    legal = {int(i) for i in re.findall(r'data-id="(\d+)"', client.get("/", params={"risk": "legal",
                                                                                     "status": "all"}).text)}
    assert seeded[31] in legal and not legal & {seeded[24], seeded[49]}
