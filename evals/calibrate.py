"""How far to trust the judge: its checklist scores against human ratings (Spearman rho on the graded
score, Cohen's kappa on acceptable / not acceptable).

Inputs: a JSONL of rated replies; a DSTC11 track-5 entry with its human evaluation (accuracy and
appropriateness, 1-5, three raters per turn); or the approval queue, where a CM's decision is the
rating (approved as drafted 1.0, approved after an edit 0.5, rejected 0.0). Judge errors are counted
and reported, never dropped from the denominator silently and never scored.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from desk.models import Draft, Message
from evals.errors import EvalError
from evals.gate import LLMGate, ResponseCache
from evals.judge import Judge, JudgeConfig, JudgeInput, judge_prompt_hash
from evals.stats import cohen_kappa, spearman
from evals.store import open_engine
from ground.settings import Settings

ITEMS = {
    "accuracy": "Is every factual claim in the reply supported by the SOURCES, or by the MESSAGE and THREAD "
                "when no source is given?",
    "appropriateness": "Is the reply an appropriate, natural and helpful response to the MESSAGE in this conversation?",
}
ACCEPTABLE = 0.625  # normalised human score; 3.5 on a 1-5 scale


@dataclass
class RatedReply:
    id: str
    message: str
    reply: str
    human: float  # normalised to [0, 1]
    thread: str = ""
    sources: str = ""
    platform: str = "chat"
    dimensions: dict[str, float] = field(default_factory=dict)  # normalised, per rated dimension


def _normalise(values: list[float], low: float, high: float) -> float:
    return (sum(values) / len(values) - low) / (high - low)


def load_ratings(path: Path) -> list[RatedReply]:
    """JSONL lines: {"id", "message", "reply", "rating": number | {dimension: number | [numbers]},
    "scale"?: [low, high] (default [1, 5]), "thread"?, "sources"?, "platform"?}."""
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalError(f"{path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            low, high = (float(x) for x in row.get("scale", (1, 5)))
            rating = row["rating"]
            if isinstance(rating, dict):
                dims = {k: _normalise([float(x) for x in (v if isinstance(v, list) else [v])], low, high)
                        for k, v in rating.items()}
            else:
                dims = {"overall": _normalise([float(rating)], low, high)}
            items.append(RatedReply(str(row["id"]), str(row["message"]), str(row["reply"]),
                                    sum(dims.values()) / len(dims), str(row.get("thread") or ""),
                                    str(row.get("sources") or ""), str(row.get("platform") or "chat"), dims))
        except (ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
            raise EvalError(f"{path}:{number}: expected {{\"id\", \"message\", \"reply\", \"rating\"}}: {exc}") from exc
    return items


def _dstc_knowledge(knowledge: dict[str, Any], ref: dict[str, Any]) -> str:
    entity = knowledge.get(ref.get("domain", ""), {}).get(str(ref.get("entity_id")), {})
    if ref.get("doc_type") == "faq":
        faq = entity.get("faqs", {}).get(str(ref.get("doc_id")), {})
        return f"{faq.get('question', '')} {faq.get('answer', '')}".strip()
    review = entity.get("reviews", {}).get(str(ref.get("doc_id")), {})
    return str(review.get("sentences", {}).get(str(ref.get("sent_id")), ""))


def load_dstc(entry: Path, logs: Path) -> list[RatedReply]:
    """A DSTC11 track-5 system entry (``entryN.json``) with ``entryN.human_eval.json`` beside it, and the
    ``logs.json`` of the same split; ``knowledge.json`` is looked up next to the split's folder."""
    human_path = entry.with_name(entry.name.replace(".json", ".human_eval.json"))
    try:
        responses = json.loads(entry.read_text(encoding="utf-8"))
        human = json.loads(human_path.read_text(encoding="utf-8"))
        dialogues = json.loads(logs.read_text(encoding="utf-8"))
        kb_path = logs.parent.parent / "knowledge.json"
        knowledge = json.loads(kb_path.read_text(encoding="utf-8")) if kb_path.exists() else {}
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read the DSTC files: {exc}") from exc
    if not (len(responses) == len(human) == len(dialogues)):
        raise EvalError(f"{entry}, {human_path} and {logs} are not aligned ({len(responses)}, {len(human)}, "
                        f"{len(dialogues)} turns): they must come from the same split")
    items = []
    for index, (response, rating, turns) in enumerate(zip(responses, human, dialogues, strict=True)):
        if not rating or not response or not response.get("target"):
            continue
        dims = {k: _normalise([float(x) for x in v], 1, 5) for k, v in rating.items() if v}
        sources = "\n".join(_dstc_knowledge(knowledge, ref) for ref in response.get("knowledge", []))
        thread = "\n".join(f"{t['speaker']}: {t['text']}" for t in turns[-6:-1])
        items.append(RatedReply(f"dstc-{index}", str(turns[-1]["text"]), str(response.get("response", "")),
                                sum(dims.values()) / len(dims), thread, sources, "chat", dims))
    return items


def load_queue(settings: Settings, limit: int = 500) -> list[RatedReply]:
    from knowledge.store import KnowledgeStore

    engine = open_engine(settings)
    with Session(engine) as session:
        rows = session.exec(
            select(Draft, Message).join(Message, col(Message.id) == col(Draft.message_id))
            .where(col(Draft.status).in_(("approved", "delivered", "rejected")), col(Draft.route) == "draft")
            .order_by(col(Draft.id).desc()).limit(limit)
        ).all()
    engine.dispose()
    store = KnowledgeStore(settings)
    items = []
    for draft, message in rows:
        edited = draft.text.strip() != draft.drafted_text.strip()
        score = 0.0 if draft.status == "rejected" else 0.5 if edited else 1.0
        ids = [str(c["id"]) for c in draft.citations if c.get("id")]
        sources = "\n".join(f"[{c.id}] {c.text}" for c in store.get(ids, draft.workspace))
        thread = "\n".join(f"{t.get('author')}: {t.get('text')}" for t in message.thread)
        items.append(RatedReply(f"draft-{draft.id}", message.text, draft.drafted_text, score, thread, sources,
                                message.platform, {"cm_decision": score}))
    return items


def calibrate_judge(settings: Settings, items: list[RatedReply]) -> dict[str, Any]:
    if not settings.judge_enabled:
        raise EvalError("calibration needs a judge endpoint (REPLYDESK_EVAL_JUDGE_BASE_URL or REPLYDESK_LLM_BASE_URL)")
    if not items:
        raise EvalError("no rated replies to calibrate against")
    config = JudgeConfig(model=settings.eval_judge_model or settings.llm_model,
                         base_url=settings.eval_judge_base_url or settings.llm_base_url,
                         timeout=settings.eval_judge_timeout, max_retries=settings.eval_judge_max_retries,
                         prompt_hash=judge_prompt_hash())
    gate = LLMGate(ResponseCache(settings.data_dir / "evals" / "cache"), settings.eval_concurrency,
                   settings.eval_rate_limit)
    client = gate.client(config.base_url, settings.eval_judge_api_key or settings.llm_api_key, role="judge",
                         repeat=0, timeout=config.timeout, max_retries=config.max_retries)
    judge = Judge(config, lambda _repeat: client, settings)

    def judge_one(item: RatedReply) -> dict[str, Any]:
        data = JudgeInput(item.platform, False, "the user", "user", item.thread, item.message, "", item.reply,
                          item.sources)
        results = {name: judge.check(question, data, 0) for name, question in ITEMS.items()}
        errors = [r.error for r in results.values() if r.error]
        return {"id": item.id, "human": item.human, "dimensions": item.dimensions,
                "error": errors[0] if errors else None, "items": {k: r.passed for k, r in results.items()}}

    with ThreadPoolExecutor(settings.eval_concurrency) as pool:
        judged = list(pool.map(judge_one, items))
    gate.close()
    ok = [j for j in judged if j["error"] is None]
    scores = [sum(bool(v) for v in j["items"].values()) / len(ITEMS) for j in ok]
    humans = [j["human"] for j in ok]
    rho, p = spearman(scores, humans)
    judge_ok = [s == 1.0 for s in scores]
    human_ok = [h >= ACCEPTABLE for h in humans]
    per_dimension = {}
    for dim in sorted({d for j in ok for d in j["dimensions"]}):
        pairs = [(float(bool(j["items"].get(dim, all(j["items"].values())))), j["dimensions"][dim])
                 for j in ok if dim in j["dimensions"]]
        d_rho, d_p = spearman([a for a, _ in pairs], [b for _, b in pairs])
        per_dimension[dim] = {"n": len(pairs), "spearman": d_rho, "p_value": d_p}
    return {
        "n": len(items), "judged": len(ok), "errors": len(judged) - len(ok),
        "error_examples": [j["error"] for j in judged if j["error"]][:5],
        "spearman": rho, "spearman_p": p,
        "cohen_kappa": cohen_kappa(judge_ok, human_ok) if ok else None,
        "agreement": sum(a == b for a, b in zip(judge_ok, human_ok, strict=True)) / len(ok) if ok else None,
        "confusion": {"judge_ok_human_ok": sum(a and b for a, b in zip(judge_ok, human_ok, strict=True)),
                      "judge_ok_human_not": sum(a and not b for a, b in zip(judge_ok, human_ok, strict=True)),
                      "judge_not_human_ok": sum(b and not a for a, b in zip(judge_ok, human_ok, strict=True)),
                      "judge_not_human_not": sum(not a and not b for a, b in zip(judge_ok, human_ok, strict=True))},
        "per_dimension": per_dimension, "acceptable_threshold": ACCEPTABLE, "judge": config.as_dict(),
        "calls": {role: stats.as_dict() for role, stats in gate.stats.items()},
    }
