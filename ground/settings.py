"""The one place that reads the environment (prefix ``REPLYDESK_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REPLYDESK_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="SQLite file, Chroma directory, logs.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir.")
    chroma_path: Path | None = Field(default=None, description="Embedded Chroma directory.")
    chroma_url: str | None = Field(default=None, description="Chroma server URL; switches to HttpClient.")
    embeddings: Literal["local"] = Field(default="local", description="Embedding backend: 'local' (ONNX MiniLM).")
    workspace: str = Field(default="default", description="Workspace used when none is given.")

    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = Field(
        default=30.0, gt=0, description="Seconds for the first calls; later ones are sized from observed latency."
    )
    llm_timeout_max: float = Field(default=300.0, gt=0, description="Ceiling of the latency-sized timeout.")
    llm_max_retries: int = Field(default=2, ge=0, description="Retries of a transport failure (5xx, timeout).")
    llm_max_tokens: int = Field(default=1024, ge=16, description="Most tokens the model may write per call.")
    llm_concurrency: int = Field(
        default=16, ge=1, le=256,
        description="Most requests in flight to one LLM endpoint per process (lowered on 429s, probed back up).",
    )
    llm_requests_per_minute: int | None = Field(default=None, ge=1, description="Endpoint request rate limit.")
    llm_tokens_per_minute: int | None = Field(default=None, ge=1, description="Endpoint token rate limit.")
    llm_rate_limit_wait: float = Field(
        default=300.0, gt=0, description="How long one request keeps retrying 429s before it gives up."
    )
    llm_structured_output: Literal["auto", "json_schema", "json_object_schema", "json_object", "none"] = Field(
        default="auto",
        description="How to ask for JSON: 'auto' negotiates the strongest mode the endpoint accepts, once.",
    )

    webhook_url: str | None = Field(default=None, description="Where approved replies are POSTed.")
    webhook_secret: str | None = Field(default=None, description="HMAC secret for webhook-signature.")
    delivery_timeout: float = Field(default=10.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_claim_seconds: float = Field(
        default=60.0, gt=0, description="How long a relay holds a delivery before another may retry it."
    )
    secret_key: str | None = Field(
        default=None,
        description="Master secret from which webhook signing secrets are derived (default: a file in data_dir).",
    )
    webhook_tolerance_seconds: int = Field(default=300, ge=1, description="Inbound webhook timestamp skew limit.")

    worker_enabled: bool = Field(default=True, description="Run the job worker inside the API process.")
    worker_poll_seconds: float = Field(default=0.2, gt=0)
    worker_concurrency: int = Field(default=16, ge=1, le=256, description="Jobs one worker process runs at once.")
    malloc_arenas: int = Field(
        default=2, ge=0, le=64,
        description="glibc malloc arenas for a serve/worker process's threads (0: glibc's default, 8 per core). "
        "Each drafting lane's native allocations otherwise stay in an arena of its own.",
    )
    job_lease_seconds: float = Field(default=300.0, gt=0)
    job_max_attempts: int = Field(default=3, ge=1)
    relay_enabled: bool = Field(default=True, description="Run the delivery relay inside the API process.")
    connectors_enabled: bool = Field(
        default=True, description="Run the pull and gateway connectors (Reddit pollers, Discord bots) in the API."
    )
    connector_poll_seconds: float = Field(default=30.0, gt=0, description="How often pull connectors poll.")

    claim_minutes: float = Field(default=15.0, gt=0, le=24 * 60, description="Default draft claim lock.")
    default_response_target_hours: float = Field(
        default=24.0, gt=0, description="SLA target when no platform guideline sets response_target_hours."
    )
    idempotency_ttl_hours: float = Field(default=24.0, gt=0, description="How long Idempotency-Key results replay.")
    housekeeping_seconds: float = Field(
        default=300.0, gt=0, description="How often the API process purges expired rows (Idempotency-Key results)."
    )

    # Hardening (issue 13): request limits, the outbound address policy, the metrics endpoint.
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest request body of a write without a cap of its own."
    )
    write_rate_limit: str | None = Field(
        default="1200/minute", description="Writes per API key and API process, e.g. '1200/minute'; empty: no limit."
    )
    outbound_allow: str = Field(
        default="", description="CIDRs, addresses or host names the server may call although they are not public "
        "(comma-separated, e.g. '10.0.0.0/8,hooks.internal'); everything else non-public is refused.",
    )
    metrics_token: str | None = Field(default=None, description="When set, /metrics requires 'Bearer <token>'.")
    metrics_cache_seconds: float = Field(
        default=10.0, ge=0, description="How long a /metrics scrape reuses the queue figures it read."
    )
    log_format: Literal["text", "json"] = Field(default="text", description="Log lines as text or JSON.")

    min_answer_score: float = Field(
        default=0.30, description="Below this retrieval score the offline composer holds instead of answering "
        "(measured with `python -m bench relevance`, with the relevance thresholds of agent/relevance.py)."
    )
    retrieve_k: int = Field(default=5, ge=1, le=50)

    # Evals: the judge may be another endpoint/model than the drafting LLM (unset → the drafting one).
    eval_judge_base_url: str | None = None
    eval_judge_api_key: str | None = None
    eval_judge_model: str | None = None
    eval_judge_timeout: float = Field(default=30.0, gt=0)
    eval_judge_max_retries: int = Field(default=2, ge=0)
    eval_concurrency: int = Field(default=8, ge=1, le=256, description="Most LLM calls in flight at once.")
    eval_rate_limit: float | None = Field(default=None, gt=0, description="LLM requests per second (none: no cap).")
    eval_prices: Path | None = Field(default=None, description="YAML price table; default evals/prices.yaml.")
    eval_shared_data: Path | None = Field(default=None, description="Public datasets; default ../shared/data.")

    @property
    def judge_enabled(self) -> bool:
        return bool(self.eval_judge_base_url or self.eval_judge_api_key or self.llm_enabled)

    # Agent (issue 4): LLM guards, self-check revisions, variants, learned examples, the canary.
    llm_breaker_failures: int = Field(default=5, ge=1, description="Consecutive LLM failures that open the breaker.")
    llm_breaker_cooldown: float = Field(default=30.0, gt=0, description="Seconds before a trial call.")
    llm_daily_token_budget: int | None = Field(
        default=2_000_000, ge=0, description="LLM tokens per workspace per UTC day; then the offline composer."
    )
    llm_source_rate_per_hour: int | None = Field(
        default=20, ge=0, description="LLM drafts per author (workspace, platform, author id) per hour."
    )
    max_revisions: int = Field(default=1, ge=0, le=3, description="Self-check revision rounds for LLM drafts.")
    draft_variants: bool = Field(default=False, description="Also draft a second variant with another angle.")
    example_min_similarity: float = Field(
        default=0.6, ge=0, le=1, description="How similar a past approved message must be to become an example."
    )
    canary: str | None = Field(default=None, description="System-prompt canary; default: random, in data_dir.")

    # Insights: spike alerts against a rolling baseline, digests, knowledge gaps.
    alert_window_minutes: int = Field(default=60, ge=5, description="Window a spike is measured over.")
    alert_baseline_windows: int = Field(default=24, ge=2, description="Previous windows forming the baseline.")
    alert_volume_factor: float = Field(default=3.0, gt=1, description="Volume spike: window >= factor x baseline.")
    alert_volume_min: int = Field(default=15, ge=1, description="Fewer messages than this are never a spike.")
    alert_negative_delta: float = Field(
        default=0.3, gt=0, le=1, description="Sentiment spike: negative share this far above the baseline's."
    )
    alert_negative_min: int = Field(default=8, ge=1, description="Fewer negative messages are never a spike.")
    alert_cooldown_minutes: int = Field(default=240, ge=0, description="No second alert this soon after one.")
    alert_webhook_url: str | None = Field(default=None, description="Where alerts go; default webhook_url.")
    digest_slack_url: str | None = Field(default=None, description="Slack-compatible incoming webhook for digests.")
    theme_distance: float = Field(
        default=0.6, gt=0, lt=2, description="Average cosine distance under which messages form one theme."
    )
    question_distance: float = Field(
        default=0.5, gt=0, lt=2, description="Tighter: questions counted as one (top questions, knowledge gaps)."
    )

    @field_validator("write_rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"write_rate_limit {value!r}: expected a rate such as '1200/minute' ({exc})") from exc
        return value

    @model_validator(mode="after")
    def _outbound_targets(self) -> Settings:
        """Webhook, alert and digest URLs must pass the outbound address policy: refused at start-up, with the
        setting named, rather than at the first send."""
        from ground.outbound import OutboundPolicy, OutboundRefused  # ground.outbound needs httpx: load late

        policy = OutboundPolicy.parse(self.outbound_allow)
        for name in ("webhook_url", "alert_webhook_url", "digest_slack_url"):
            url = getattr(self, name)
            if url:
                try:
                    policy.check_url(url)
                except OutboundRefused as exc:
                    raise ValueError(f"{name}: {exc}") from exc
        return self

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url or self.llm_api_key)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            return url
        return f"sqlite:///{self.data_dir / 'replydesk.db'}"

    @property
    def libpq_url(self) -> str:
        """The PostgreSQL URL without SQLAlchemy's driver suffix, as LangGraph's savers and stores want it."""
        return "postgresql://" + self.sqlalchemy_url.split("://", 1)[1]

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def chroma_dir(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"

    @property
    def checkpoint_path(self) -> Path:
        return self.data_dir / "checkpoints.db"

    @property
    def secret_key_path(self) -> Path:
        return self.data_dir / "secret_key"

    @property
    def delivery_log(self) -> Path:
        return self.data_dir / "deliveries.jsonl"

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
