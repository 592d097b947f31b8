"""Where and how a client reports: arguments first, then the environment, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_BASE_URL = "https://api.infraprism.com"


@dataclass(frozen=True, slots=True)
class ReportingConfig:
    api_key: str | None
    base_url: str
    enabled: bool
    max_queue_size: int = 10_000
    batch_size: int = 100  # a send starts as soon as this many events are queued
    max_batch_size: int = 1000  # a backlog goes out in batches this large (the server's cap)
    flush_interval: float = 1.0
    exit_timeout: float = 5.0
    request_timeout: float = 10.0
    max_backoff: float = 30.0


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_config(
    *,
    api_key: str | None,
    base_url: str | None,
    max_queue_size: int,
    flush_interval: float,
    exit_timeout: float,
    max_backoff: float,
) -> ReportingConfig:
    """Reporting is off when INFRAPRISM_DISABLED is set, and (with one warning from the sender)
    when no key is known: the LLM calls themselves always work."""
    key = api_key if api_key is not None else os.environ.get("INFRAPRISM_API_KEY") or None
    url = base_url or os.environ.get("INFRAPRISM_BASE_URL") or DEFAULT_BASE_URL
    return ReportingConfig(
        api_key=key,
        base_url=url.rstrip("/"),
        enabled=not _env_flag("INFRAPRISM_DISABLED"),
        max_queue_size=max(1, max_queue_size),
        flush_interval=max(0.01, flush_interval),
        exit_timeout=max(0.0, exit_timeout),
        max_backoff=max(0.01, max_backoff),
    )
