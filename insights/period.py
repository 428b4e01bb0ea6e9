"""Time ranges: parsing ``since``/``until``/``--period`` and choosing chart buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from insights.errors import InvalidPeriod

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
MAX_SPAN = timedelta(days=400)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (what the database stores)."""
    return value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)


def parse_time(value: str, name: str) -> datetime:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidPeriod(f"{name}: {value!r} is not an ISO-8601 date or time (e.g. 2026-11-01T00:00Z)") from exc
    return as_utc(parsed)


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime

    @property
    def span(self) -> timedelta:
        return self.until - self.since

    def previous(self) -> Period:
        return Period(self.since - self.span, self.since)

    def bucket(self) -> timedelta:
        """Chart resolution: hourly up to two days, daily up to ~10 weeks, weekly beyond."""
        if self.span <= timedelta(days=2):
            return timedelta(hours=1)
        if self.span <= timedelta(days=70):
            return timedelta(days=1)
        return timedelta(days=7)

    def label(self) -> str:
        return f"{self.since:%Y-%m-%d %H:%M} - {self.until:%Y-%m-%d %H:%M} UTC"


def make_period(
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    period: str | None = None,
    now: datetime | None = None,
) -> Period:
    """``until`` defaults to now, ``since`` to one ``period`` (default a week) before ``until``."""
    if period is not None and period not in PERIODS:
        raise InvalidPeriod(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    end = _coerce(until, "until") if until is not None else as_utc(now or datetime.now(UTC))
    start = _coerce(since, "since") if since is not None else end - PERIODS[period or "week"]
    if start >= end:
        raise InvalidPeriod(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    if end - start > MAX_SPAN:
        raise InvalidPeriod(f"the range is {(end - start).days} days; the limit is {MAX_SPAN.days}")
    return Period(start, end)


def _coerce(value: datetime | str, name: str) -> datetime:
    return parse_time(value, name) if isinstance(value, str) else as_utc(value)


def buckets(period: Period) -> list[datetime]:
    """Bucket start times covering the period (aligned to the period's start)."""
    step = period.bucket()
    starts: list[datetime] = []
    at = period.since
    while at < period.until:
        starts.append(at)
        at += step
    return starts
