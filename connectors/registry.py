"""The platforms by name, and a connector built from its stored row."""

from __future__ import annotations

from connectors.base import PlatformConnector
from connectors.credentials import Secrets
from connectors.discord import DiscordConnector
from connectors.discourse import DiscourseConnector
from connectors.meta import MetaConnector
from connectors.reddit import RedditConnector
from desk.connector_tables import Connector
from desk.errors import BadRequest
from ground.settings import Settings

PLATFORMS: dict[str, type[PlatformConnector]] = {
    DiscordConnector.platform: DiscordConnector,
    DiscourseConnector.platform: DiscourseConnector,
    MetaConnector.platform: MetaConnector,
    RedditConnector.platform: RedditConnector,
}


def platform_class(platform: str) -> type[PlatformConnector]:
    try:
        return PLATFORMS[platform]
    except KeyError:
        raise BadRequest(f"unknown platform {platform!r}; choose one of {', '.join(sorted(PLATFORMS))}") from None


def build(settings: Settings, row: Connector) -> PlatformConnector:
    return platform_class(row.platform)(settings, row, Secrets(settings, row.secrets))
