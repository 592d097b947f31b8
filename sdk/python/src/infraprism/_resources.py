"""Resource wrappers: `chat.completions`, `responses` and `embeddings` whose `create` takes
InfraPrism's attribution keywords, calls openai unchanged and reports the call.

Everything else on these resources is openai's own (they are subclasses): `with_raw_response`,
`with_streaming_response`, `parse`, `stream`, `retrieve`... `chat.completions.stream()` goes
through `create` and is reported; the raw-response variants pass through unreported.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import openai
from openai.resources.chat import AsyncChat, Chat
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.embeddings import AsyncEmbeddings, Embeddings
from openai.resources.responses import AsyncResponses, Responses

from ._compat import cached_property
from ._events import CallContext, build_event, split_attribution, usage_tokens
from ._sender import Sender
from ._streams import AsyncReportingStream, ReportingStream, StreamReport

logger = logging.getLogger("infraprism")


# Set by openai's with_raw_response / with_streaming_response: the result is not a model then.
_RAW_RESPONSE_HEADER = "x-stainless-raw-response"


class Reporter:
    """One client's reporting: its sender and the provider its calls are made to."""

    def __init__(self, *, sender: Sender, provider: str) -> None:
        self.sender = sender
        self.provider = provider

    def call(self, create: Callable[..., Any], kwargs: dict[str, Any], *, chat: bool) -> Any:
        attribution = split_attribution(kwargs)
        if not self.sender.enabled or _is_raw(kwargs):
            return create(**kwargs)
        context = CallContext(
            provider=self.provider, requested_model=kwargs.get("model"), attribution=attribution
        )
        hide_usage = chat and _ask_for_usage(kwargs)
        try:
            result = create(**kwargs)
        except Exception as exc:
            self._report(context, None, exc)
            raise
        if isinstance(result, openai.Stream):
            report = StreamReport(sender=self.sender, context=context, hide_usage_chunk=hide_usage)
            return ReportingStream(result, report)
        self._report(context, result, None)
        return result

    async def acall(
        self, create: Callable[..., Awaitable[Any]], kwargs: dict[str, Any], *, chat: bool
    ) -> Any:
        attribution = split_attribution(kwargs)
        if not self.sender.enabled or _is_raw(kwargs):
            return await create(**kwargs)
        context = CallContext(
            provider=self.provider, requested_model=kwargs.get("model"), attribution=attribution
        )
        hide_usage = chat and _ask_for_usage(kwargs)
        try:
            result = await create(**kwargs)
        except Exception as exc:
            self._report(context, None, exc)
            raise
        if isinstance(result, openai.AsyncStream):
            report = StreamReport(sender=self.sender, context=context, hide_usage_chunk=hide_usage)
            return AsyncReportingStream(result, report)
        self._report(context, result, None)
        return result

    def _report(self, context: CallContext, result: Any, error: BaseException | None) -> None:
        try:
            if error is not None:
                event = build_event(context, model=None, tokens=None, error=error)
            else:
                usage = getattr(result, "usage", None)
                event = build_event(
                    context,
                    model=getattr(result, "model", None),
                    tokens=usage_tokens(usage) if usage is not None else None,
                )
            self.sender.enqueue(event)
        except Exception:
            logger.debug("InfraPrism could not report a call", exc_info=True)


def _is_raw(kwargs: dict[str, Any]) -> bool:
    headers = kwargs.get("extra_headers")
    if not headers:
        return False
    return any(str(name).lower() == _RAW_RESPONSE_HEADER for name in headers)


def _ask_for_usage(kwargs: dict[str, Any]) -> bool:
    """For a chat stream whose caller set no stream_options, ask for the usage chunk; True when
    the caller did not ask for it (so the wrapper hides it)."""
    if kwargs.get("stream") is not True:
        return False
    options = kwargs.get("stream_options")
    if options is None or isinstance(options, (openai.Omit, openai.NotGiven)):
        kwargs["stream_options"] = {"include_usage": True}
        return True
    return False


def reporter_of(client: object) -> Reporter:
    reporter: Reporter = getattr(client, "_infraprism_reporter")  # noqa: B009
    return reporter


# --- sync ------------------------------------------------------------------------------------


class ReportingCompletions(Completions):
    def create(self, **kwargs: Any) -> Any:
        return reporter_of(self._client).call(super().create, kwargs, chat=True)


class ReportingChat(Chat):
    @cached_property
    def completions(self) -> ReportingCompletions:
        return ReportingCompletions(self._client)


class ReportingResponses(Responses):
    def create(self, **kwargs: Any) -> Any:
        return reporter_of(self._client).call(super().create, kwargs, chat=False)


class ReportingEmbeddings(Embeddings):
    def create(self, **kwargs: Any) -> Any:
        return reporter_of(self._client).call(super().create, kwargs, chat=False)


# --- async -----------------------------------------------------------------------------------


class AsyncReportingCompletions(AsyncCompletions):
    async def create(self, **kwargs: Any) -> Any:
        return await reporter_of(self._client).acall(super().create, kwargs, chat=True)


class AsyncReportingChat(AsyncChat):
    @cached_property
    def completions(self) -> AsyncReportingCompletions:
        return AsyncReportingCompletions(self._client)


class AsyncReportingResponses(AsyncResponses):
    async def create(self, **kwargs: Any) -> Any:
        return await reporter_of(self._client).acall(super().create, kwargs, chat=False)


class AsyncReportingEmbeddings(AsyncEmbeddings):
    async def create(self, **kwargs: Any) -> Any:
        return await reporter_of(self._client).acall(super().create, kwargs, chat=False)
