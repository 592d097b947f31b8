"""`InfraPrismOpenAI` and `AsyncInfraPrismOpenAI`: openai's clients, plus reporting.

Every constructor argument of openai's clients works as before; the `infraprism_*` ones
configure reporting. Each client owns one sender (its queue and background thread); a copy made
with `with_options()`/`copy()` shares its parent's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import openai

from ._compat import cached_property
from ._config import resolve_config
from ._resources import (
    AsyncReportingChat,
    AsyncReportingEmbeddings,
    AsyncReportingResponses,
    Reporter,
    ReportingChat,
    ReportingEmbeddings,
    ReportingResponses,
)
from ._sender import Sender

logger = logging.getLogger("infraprism")


def _provider_of(client: openai.OpenAI | openai.AsyncOpenAI) -> str:
    if isinstance(client, (openai.AzureOpenAI, openai.AsyncAzureOpenAI)):
        return "azure"
    try:
        host = str(client.base_url.host)
    except Exception:
        return "openai"
    return "azure" if host.endswith((".azure.com", ".azure-api.net")) else "openai"


def _make_reporter(
    client: openai.OpenAI | openai.AsyncOpenAI,
    *,
    api_key: str | None,
    base_url: str | None,
    max_queue_size: int,
    flush_interval: float,
    exit_timeout: float,
    max_backoff: float,
) -> Reporter:
    config = resolve_config(
        api_key=api_key,
        base_url=base_url,
        max_queue_size=max_queue_size,
        flush_interval=flush_interval,
        exit_timeout=exit_timeout,
        max_backoff=max_backoff,
    )
    return Reporter(sender=Sender(config), provider=_provider_of(client))


def _with_reporter(kwargs: dict[str, Any], reporter: Reporter) -> dict[str, Any]:
    extra = dict(kwargs.pop("_extra_kwargs", None) or {})
    extra.setdefault("_infraprism_reporter", reporter)
    kwargs["_extra_kwargs"] = extra
    return kwargs


class InfraPrismOpenAI(openai.OpenAI):
    """`openai.OpenAI` whose `chat.completions.create`, `responses.create` and
    `embeddings.create` also take `entity_type`, `entity_id`, `session_id`, `tags`,
    `event_id` and `cost`, and report each call to InfraPrism in the background."""

    _infraprism_reporter: Reporter

    def __init__(
        self,
        *,
        infraprism_api_key: str | None = None,
        infraprism_base_url: str | None = None,
        infraprism_max_queue_size: int = 10_000,
        infraprism_flush_interval: float = 1.0,
        infraprism_exit_timeout: float = 5.0,
        infraprism_max_backoff: float = 30.0,
        _infraprism_reporter: Reporter | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._infraprism_owns_sender = _infraprism_reporter is None
        self._infraprism_reporter = _infraprism_reporter or _make_reporter(
            self,
            api_key=infraprism_api_key,
            base_url=infraprism_base_url,
            max_queue_size=infraprism_max_queue_size,
            flush_interval=infraprism_flush_interval,
            exit_timeout=infraprism_exit_timeout,
            max_backoff=infraprism_max_backoff,
        )

    @cached_property
    def chat(self) -> ReportingChat:
        return ReportingChat(self)

    @cached_property
    def responses(self) -> ReportingResponses:
        return ReportingResponses(self)

    @cached_property
    def embeddings(self) -> ReportingEmbeddings:
        return ReportingEmbeddings(self)

    def flush(self, timeout: float | None = None) -> bool:
        """Send every queued event now. True when all were handled within `timeout` seconds
        (default: `infraprism_exit_timeout`, 5 s), False if InfraPrism could not be reached
        in that time (the events stay queued and are retried)."""
        try:
            return self._infraprism_reporter.sender.flush_within(timeout)
        except Exception:
            logger.exception("InfraPrism flush failed")
            return False

    def close(self) -> None:
        """Flush (for at most the exit timeout), stop the sender, close the HTTP client."""
        try:
            if self._infraprism_owns_sender:
                self._infraprism_reporter.sender.close()
        except Exception:
            logger.exception("InfraPrism close failed")
        finally:
            super().close()

    def copy(self, *args: Any, **kwargs: Any) -> Any:  # same signature as openai's
        return super().copy(*args, **_with_reporter(kwargs, self._infraprism_reporter))

    with_options = copy


class AsyncInfraPrismOpenAI(openai.AsyncOpenAI):
    """`openai.AsyncOpenAI` with the same reporting as `InfraPrismOpenAI`. Reporting only
    appends to a queue, so it never blocks the event loop; `flush()` and `close()` are
    awaited and wait in a worker thread."""

    _infraprism_reporter: Reporter

    def __init__(
        self,
        *,
        infraprism_api_key: str | None = None,
        infraprism_base_url: str | None = None,
        infraprism_max_queue_size: int = 10_000,
        infraprism_flush_interval: float = 1.0,
        infraprism_exit_timeout: float = 5.0,
        infraprism_max_backoff: float = 30.0,
        _infraprism_reporter: Reporter | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._infraprism_owns_sender = _infraprism_reporter is None
        self._infraprism_reporter = _infraprism_reporter or _make_reporter(
            self,
            api_key=infraprism_api_key,
            base_url=infraprism_base_url,
            max_queue_size=infraprism_max_queue_size,
            flush_interval=infraprism_flush_interval,
            exit_timeout=infraprism_exit_timeout,
            max_backoff=infraprism_max_backoff,
        )

    @cached_property
    def chat(self) -> AsyncReportingChat:
        return AsyncReportingChat(self)

    @cached_property
    def responses(self) -> AsyncReportingResponses:
        return AsyncReportingResponses(self)

    @cached_property
    def embeddings(self) -> AsyncReportingEmbeddings:
        return AsyncReportingEmbeddings(self)

    async def flush(self, timeout: float | None = None) -> bool:
        """Send every queued event now; see `InfraPrismOpenAI.flush`."""
        try:
            return await asyncio.to_thread(self._infraprism_reporter.sender.flush_within, timeout)
        except Exception:
            logger.exception("InfraPrism flush failed")
            return False

    async def close(self) -> None:
        """Flush (for at most the exit timeout), stop the sender, close the HTTP client."""
        try:
            if self._infraprism_owns_sender:
                await asyncio.to_thread(self._infraprism_reporter.sender.close)
        except Exception:
            logger.exception("InfraPrism close failed")
        finally:
            await super().close()

    def copy(self, *args: Any, **kwargs: Any) -> Any:  # same signature as openai's
        return super().copy(*args, **_with_reporter(kwargs, self._infraprism_reporter))

    with_options = copy
