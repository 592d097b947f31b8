"""Stream wrappers: the caller gets openai's stream contract unchanged, InfraPrism gets one event.

A wrapper reports exactly once: when the stream is exhausted, closed, left through `with`, or
abandoned (garbage-collected after a `break`). A stream that ends before its usage arrived is
reported with status `error` and no token fields (unknown, never zero). Attributes the wrapper
does not define (`response`, helpers) are those of openai's stream.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._events import CallContext, build_event, usage_tokens
from ._sender import Sender

logger = logging.getLogger("infraprism")

T = TypeVar("T")

# Outcome of a stream the caller stopped reading before its end (and before its usage).
CLOSED_EARLY = "StreamClosedEarly"
# The Responses API's terminal events; their `response` carries the usage.
_RESPONSE_DONE = frozenset({"response.completed", "response.incomplete", "response.failed"})
# After every choice has a finish_reason only the usage chunk is left: read that many at most.
_DRAIN_LIMIT = 3


class StreamReport:
    """What a stream has shown so far, and the single event it becomes."""

    def __init__(self, *, sender: Sender, context: CallContext, hide_usage_chunk: bool) -> None:
        self._sender = sender
        self._context = context
        self._hide_usage_chunk = hide_usage_chunk
        self._lock = threading.Lock()
        self.model: str | None = None
        self.tokens: dict[str, int] | None = None
        self.finished_choices = False
        self.failed: str | None = None
        self.reported = False

    @property
    def awaiting_usage(self) -> bool:
        """Every choice finished and the usage chunk we asked for has not been read yet."""
        return self._hide_usage_chunk and self.finished_choices and self.tokens is None

    def observe(self, item: Any) -> bool:
        """Note a chunk or event; False when it is the usage-only chunk the caller never
        asked for (hidden, so `chunk.choices[0]` keeps working)."""
        try:
            kind = getattr(item, "type", None)
            if isinstance(kind, str) and kind.startswith("response."):
                return self._observe_response_event(kind, item)
            model = getattr(item, "model", None)
            if model and self.model is None:
                self.model = model
            choices = getattr(item, "choices", None)
            if choices and all(getattr(c, "finish_reason", None) for c in choices):
                self.finished_choices = True
            usage = getattr(item, "usage", None)
            if usage is not None:
                self.tokens = usage_tokens(usage)
                if self._hide_usage_chunk and not choices:
                    return False
        except Exception:
            logger.debug("InfraPrism could not read a stream chunk", exc_info=True)
        return True

    def _observe_response_event(self, kind: str, event: Any) -> bool:
        response = getattr(event, "response", None)
        # `response.created` already names the model that answers, in case the stream breaks.
        self.model = getattr(response, "model", None) or self.model
        if kind in _RESPONSE_DONE:
            self.tokens = usage_tokens(getattr(response, "usage", None)) or None
            if kind == "response.failed":
                self.failed = "ResponseFailed"
        return True

    def finish(self, *, error: BaseException | str | None = None, ended: bool = False) -> None:
        """Report once. `ended`: the stream ran to its end; otherwise it stopped early."""
        with self._lock:
            if self.reported:
                return
            self.reported = True
        try:
            if error is None and self.failed:
                error = self.failed
            if error is None and not ended and self.tokens is None:
                error = CLOSED_EARLY
            event = build_event(self._context, model=self.model, tokens=self.tokens, error=error)
            self._sender.enqueue(event)
        except Exception:
            logger.debug("InfraPrism could not report a stream", exc_info=True)

    def abandoned(self) -> None:
        self.finish()


class ReportingStream(Generic[T]):
    """Wraps `openai.Stream`: iteration, `next()`, `with`, `close()` and the stream's
    attributes behave as openai's do."""

    def __init__(self, stream: Any, report: StreamReport) -> None:
        self._stream = stream
        self._report = report
        # The generator must not hold `self`: a cycle would delay the report of an abandoned
        # stream until the cyclic garbage collector runs.
        self._chunks: Iterator[T] = _observed(stream, report)
        weakref.finalize(self, report.abandoned)

    def __iter__(self) -> Iterator[T]:
        # Like openai's Stream: each iter() resumes the one underlying iterator, so leaving a
        # `for` loop early does not end the stream.
        for item in self._chunks:  # noqa: UP028 - `yield from` would close the shared iterator
            yield item

    def __next__(self) -> T:
        return next(self._chunks)

    def __enter__(self) -> ReportingStream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._report.awaiting_usage:
                self._read_usage()
        finally:
            self._stream.close()
            self._report.finish()

    def _read_usage(self) -> None:
        """The caller stopped at the last content chunk: the usage chunk is already on its way."""
        try:
            for _ in range(_DRAIN_LIMIT):
                next(self._chunks)
        except StopIteration:
            pass
        except Exception:
            logger.debug("InfraPrism could not read the usage chunk", exc_info=True)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_stream", "_report", "_chunks"):
            raise AttributeError(name)
        return getattr(self._stream, name)


class AsyncReportingStream(Generic[T]):
    """Wraps `openai.AsyncStream`: `async for`, `anext()`, `async with`, `close()`/`aclose()`
    and the stream's attributes behave as openai's do."""

    def __init__(self, stream: Any, report: StreamReport) -> None:
        self._stream = stream
        self._report = report
        self._chunks: AsyncIterator[T] = _async_observed(stream, report)
        weakref.finalize(self, report.abandoned)

    async def __aiter__(self) -> AsyncIterator[T]:
        async for item in self._chunks:
            yield item

    async def __anext__(self) -> T:
        return await self._chunks.__anext__()

    async def __aenter__(self) -> AsyncReportingStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            if self._report.awaiting_usage:
                await self._read_usage()
        finally:
            await self._stream.close()
            self._report.finish()

    async def aclose(self) -> None:
        await self.close()

    async def _read_usage(self) -> None:
        try:
            for _ in range(_DRAIN_LIMIT):
                await self._chunks.__anext__()
        except StopAsyncIteration:
            pass
        except Exception:
            logger.debug("InfraPrism could not read the usage chunk", exc_info=True)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_stream", "_report", "_chunks"):
            raise AttributeError(name)
        return getattr(self._stream, name)


def _observed(stream: Any, report: StreamReport) -> Iterator[Any]:
    try:
        for item in stream:
            if report.observe(item):
                yield item
    except GeneratorExit:
        raise
    except BaseException as exc:
        report.finish(error=exc)
        raise
    report.finish(ended=True)


async def _async_observed(stream: Any, report: StreamReport) -> AsyncIterator[Any]:
    try:
        async for item in stream:
            if report.observe(item):
                yield item
    except GeneratorExit:
        raise
    except BaseException as exc:
        report.finish(error=exc)
        raise
    report.finish(ended=True)
