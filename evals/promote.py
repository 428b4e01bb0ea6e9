"""From the queue to the suite: approved drafts (as approved, or as the CM edited them) become candidate
regression cases in a review file; only the cases a person marks ``review: accepted`` join a suite.

The CM's final text is the reference reply; the sources the draft cited are the knowledge it must
cite; figures the CM let stand (in the final text) become required facts. Emails, phone numbers and
order numbers are redacted before anything is written, since suites get committed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlmodel import Session, col, select

from desk.models import Draft, Message
from evals.errors import SuiteError
from evals.store import open_engine
from evals.suites import AuthorSpec, Case, Expect, MessageSpec, TurnSpec, load_suite
from ground.settings import Settings

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
_PHONE = re.compile(r"\+?\d[\d\s().-]{8,}\d")
_ORDER = re.compile(r"\bLB-?\d{3,}\b", re.I)
_FIGURE = re.compile(r"[$€£]\s?\d[\d,.]*|\b\d+(?:[.,\u2013-]\d+)*\s?(?:%|km/h|km|kg|mph|miles|hours|days|working days|"
                     r"business days|years|months|minutes)(?!\w)")
REVIEW_NOTE = ("Candidate regression cases promoted from approved drafts. For each case, check the message "
               "and reference for personal data, check the expectations, then set review: accepted (or rejected). "
               "Then: replydesk eval promote --accept THIS_FILE --suite SUITE.yaml")


def redact(text: str) -> str:
    text = _EMAIL.sub("[email]", text)
    text = _ORDER.sub("[order]", text)
    return _PHONE.sub("[phone]", text)


def case_from_draft(draft: Draft, message: Message) -> Case:
    final = redact(draft.text)
    edited = draft.text.strip() != draft.drafted_text.strip()
    author = message.author or {}
    return Case(
        id=f"promoted-{message.workspace}-{draft.id}",
        message=MessageSpec(
            text=redact(message.text), platform=message.platform, public=message.public,
            author=AuthorSpec(id=str(author.get("id") or "author"), handle=str(author.get("handle") or "author"),
                              display_name=author.get("display_name")),
            thread=[TurnSpec(author=str(t.get("author", "")), text=redact(str(t.get("text", ""))))
                    for t in message.thread],
        ),
        expect=Expect(
            route="draft",
            knowledge_ids=[str(c["id"]) for c in draft.citations if c.get("id")],
            facts=list(dict.fromkeys(m.group(0).strip() for m in _FIGURE.finditer(final))),
            reference=final,
        ),
        tags=["promoted", "cm_edited" if edited else "approved_as_is"],
        note=f"draft {draft.id} ({draft.status}) decided by {draft.decided_by or 'unknown'}"
             + (f" at {draft.decided_at:%Y-%m-%d}" if draft.decided_at else ""),
    )


def candidate_cases(settings: Settings, limit: int = 200) -> list[Case]:
    engine = open_engine(settings)
    with Session(engine) as session:
        rows = session.exec(
            select(Draft, Message).join(Message, col(Message.id) == col(Draft.message_id))
            .where(col(Draft.status).in_(("approved", "delivered")), col(Draft.route) == "draft")
            .order_by(col(Draft.id).desc()).limit(limit)
        ).all()
    engine.dispose()
    return [case_from_draft(d, m) for d, m in rows if d.text.strip()]


def _dump(case: Case) -> dict[str, Any]:
    data = case.model_dump(exclude_defaults=True)
    data["message"] = case.message.model_dump(exclude_defaults=True) | {"text": case.message.text}
    return {"review": "pending", **data}


def write_review_file(settings: Settings, out: Path | None, limit: int = 200) -> tuple[Path, int]:
    cases = candidate_cases(settings, limit)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = out or settings.data_dir / "evals" / "review" / f"promoted-{stamp}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"review_note": REVIEW_NOTE, "cases": [_dump(c) for c in cases]}
    path.write_text(yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    return path, len(cases)


def accept_reviewed(review: Path, suite_path: Path) -> tuple[int, int]:
    """Append the cases marked ``review: accepted`` to a suite file (created if missing); returns
    (added, not accepted). The suite is re-validated before it is written."""
    try:
        data = yaml.safe_load(review.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SuiteError(str(review), f"cannot read the review file: {exc}") from exc
    accepted, left = [], 0
    for index, raw in enumerate(data.get("cases") or []):
        if not isinstance(raw, dict):
            raise SuiteError(str(review), f"case {index} is not a mapping")
        status = raw.pop("review", "pending")
        if status != "accepted":
            left += 1
            continue
        try:
            accepted.append(Case.model_validate(raw).model_dump(exclude_defaults=True) | {"id": raw.get("id")})
        except ValidationError as exc:
            raise SuiteError(str(review), f"case {raw.get('id', index)}: {exc.errors()[0]['msg']} at "
                             f"{'.'.join(str(p) for p in exc.errors()[0]['loc'])}") from exc
    if suite_path.exists():
        suite = yaml.safe_load(suite_path.read_text(encoding="utf-8")) or {}
    else:
        suite = {"name": suite_path.stem, "description": "Regression cases promoted from the approval queue."}
    existing = {c.get("id") for c in suite.get("cases") or []}
    duplicates = [c["id"] for c in accepted if c["id"] in existing]
    if duplicates:
        raise SuiteError(str(suite_path), f"already has cases {duplicates}")
    suite["cases"] = [*(suite.get("cases") or []), *accepted]
    previous = suite_path.read_text(encoding="utf-8") if suite_path.exists() else None
    suite_path.write_text(yaml.safe_dump(suite, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    try:
        load_suite(str(suite_path))
    except SuiteError:
        if previous is None:
            suite_path.unlink()
        else:
            suite_path.write_text(previous, encoding="utf-8")
        raise
    return len(accepted), left
