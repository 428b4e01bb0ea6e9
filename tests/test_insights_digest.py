"""The digest and the insights CLI: Markdown + self-contained HTML, Slack post, scheduler tick."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from agent.runner import ReplyRunner
from desk.db import make_engine, migrate
from desk.decisions import approve_draft
from desk.inbound import MessageCreate
from desk.models import Draft
from desk.queue import submit_message
from desk.relay import Relay
from desk.scope import INSTALLATION
from desk.worker import Worker
from ground import settings as settings_module
from ground.settings import Settings
from insights.scheduler import run_tick
from knowledge.store import KnowledgeStore
from replydesk.cli import app
from tests.receiver import Receiver

FIXTURE = Path(__file__).parent / "fixtures" / "insights_messages.jsonl"
HOSTILE = '<script>alert("x")</script> <img src=https://evil.example/p.png> | # not a heading'
runner = CliRunner()


class _Refs(HTMLParser):
    """Every tag and every attribute that could make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.fetches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "data") and value:
                self.fetches.append(f"{tag} {name}={value}")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, sample_chroma: Path) -> Path:
    """A data dir with the sample knowledge base and the fixture pushed through the real worker (once)."""
    data_dir = tmp_path_factory.mktemp("insights-cli") / "data"
    settings = Settings(data_dir=data_dir, llm_base_url=None, llm_api_key=None, webhook_url=None)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    migrate(settings)
    engine = make_engine(settings)
    now = datetime.now(UTC)
    lines = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    lines.append({"external_id": "hostile", "platform": "x", "author": {"id": "h", "handle": "h"},
                  "text": HOSTILE, "age_minutes": 900})  # the oldest open item: listed in the digest
    for body in lines:
        age = body.pop("age_minutes")
        submit_message(engine, MessageCreate.model_validate(body | {"received_at": now - timedelta(minutes=age)}),
                       "default", scope=INSTALLATION)
    reply_runner = ReplyRunner(settings)
    worker = Worker(settings, engine, reply_runner)
    while worker.run_once():
        pass
    with Session(engine) as session:
        drafts = session.exec(select(Draft).where(Draft.route == "draft")).all()
    for draft in drafts[:5]:
        approve_draft(engine, draft.id or 0, draft.version, None, ("cm-ana", "cm"), "log:test", scope=INSTALLATION)
    relay = Relay(settings, engine)
    while relay.run_once():
        pass
    relay.close()
    reply_runner.close()
    engine.dispose()
    return data_dir


@pytest.fixture
def env(prepared: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(prepared))
    settings_module.get_settings.cache_clear()
    yield settings_module.get_settings()
    settings_module.get_settings.cache_clear()


def test_digest_cli_writes_markdown_and_self_contained_html_and_posts(env: Settings, tmp_path: Path) -> None:
    out = tmp_path / "digests"
    with Receiver() as slack:
        result = runner.invoke(
            app, ["insights", "digest", "--period", "week", "--out", str(out), "--post-url", slack.url, "--json"]
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["messages"] == 27 and report["posted"] is True
        assert len(slack.payloads()) == 1
        assert slack.payloads()[0]["text"].startswith("*Replydesk digest: default*")
        assert "27 messages" in slack.payloads()[0]["text"]

    markdown = Path(report["markdown"]).read_text()
    for heading in ("## Volume", "## Top themes", "## Top questions", "## Escalations", "## Unanswered",
                    "## Community health", "## Knowledge gaps"):
        assert heading in markdown
    assert "\\<script\\>" in markdown and "\\# not a heading" in markdown and "\n# not" not in markdown
    assert "| x | 11 |" in markdown  # messages on x: 10 in the fixture plus the hostile one

    html = Path(report["html"]).read_text()
    refs = _Refs()
    refs.feed(html)
    assert refs.tags.count("svg") >= 3  # volume, sentiment, themes, response time charts
    assert "link" not in refs.tags and "img" not in refs.tags and "iframe" not in refs.tags
    assert refs.fetches == []  # nothing loaded from anywhere: no CDN, no remote image
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "Velo" not in html  # (no gap answer has been written yet)


def test_summary_health_gaps_and_alerts_commands(env: Settings) -> None:
    summary = runner.invoke(app, ["insights", "summary", "--period", "day", "--json", "--prose", "extractive"])
    assert summary.exit_code == 0, summary.output
    data = json.loads(summary.stdout)
    assert data["total"] == 27 and data["prose_source"] == "extractive"
    assert runner.invoke(app, ["insights", "summary"]).exit_code == 0
    health = runner.invoke(app, ["insights", "health", "--json"])
    assert health.exit_code == 0, health.output
    assert json.loads(health.stdout)["approved"] == 5
    gaps = runner.invoke(app, ["insights", "gaps", "refresh", "--json"])
    assert gaps.exit_code == 0, gaps.output
    suggestions = json.loads(gaps.stdout)
    assert any(s["count"] == 3 and "Tokyo" in s["question"] for s in suggestions)
    first = suggestions[0]["id"]
    refused = runner.invoke(app, ["insights", "gaps", "accept", str(first)])
    if suggestions[0]["answer"] is None:
        assert refused.exit_code == 1 and "no CM-approved answer" in refused.output
    dismissed = runner.invoke(app, ["insights", "gaps", "dismiss", str(first), "--reason", "duplicate"])
    assert dismissed.exit_code in (0, 1)
    assert runner.invoke(app, ["insights", "gaps", "list", "--status", "all"]).exit_code == 0
    checked = runner.invoke(app, ["insights", "alerts", "check"])
    assert checked.exit_code == 0 and "no new alert" in checked.output
    assert runner.invoke(app, ["insights", "alerts", "list", "--json"]).stdout.strip() == "[]"
    bad = runner.invoke(app, ["insights", "summary", "--since", "last tuesday"])
    assert bad.exit_code == 1 and "not an ISO-8601" in bad.output
    bad = runner.invoke(app, ["insights", "digest", "--period", "fortnight"])
    assert bad.exit_code == 1 and "period must be one of" in bad.output


def test_scheduler_tick_sends_each_digest_once(env: Settings, tmp_path: Path) -> None:
    engine = make_engine(env)
    store = KnowledgeStore(env)
    with Receiver() as slack:
        settings = env.model_copy(update={"digest_slack_url": slack.url})
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        first = run_tick(engine, settings, store, period="day", out_dir=tmp_path / "d", now=tomorrow)
        second = run_tick(engine, settings, store, period="day", out_dir=tmp_path / "d", now=tomorrow)
        assert len(first.digests) == 1 and second.digests == []
        assert first.errors == [] and first.alerts == []
        assert len(slack.payloads()) == 1
    assert Path(first.digests[0]).exists()
    engine.dispose()
