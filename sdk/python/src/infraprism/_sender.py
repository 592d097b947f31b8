"""The sender: a bounded in-memory queue drained by one background thread per client.

Callers only append to the queue (a lock and a deque append), so reporting never slows an LLM
call and never raises into it. The thread sends what is queued every `flush_interval` seconds,
or as soon as `batch_size` (100) events are queued; a backlog (after an outage, under heavy
load) goes out in batches of up to `max_batch_size` (1,000, the server's cap). It retries
connection errors, 5xx and 429 with exponential backoff and jitter (honouring Retry-After), and
keeps each event's id across retries so the server deduplicates. When the queue is full the
oldest event is dropped and counted. After a fork the child starts with an empty queue and no
thread; at interpreter exit the queue is flushed for at most `exit_timeout` seconds.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ._config import ReportingConfig
from ._events import Event, Finalizer, encode_batch
from ._transport import BatchTransport, TransportError, describe_errors

logger = logging.getLogger("infraprism")

_BASE_BACKOFF = 0.5


@dataclass(slots=True)
class SenderStats:
    delivered: int = 0  # accepted by the server (new or duplicate)
    rejected: int = 0  # refused item by item in a 207
    dropped: int = 0  # pushed out of a full queue
    failed: int = 0  # given up on: refused batch (4xx) or undelivered at shutdown


class Sender:
    def __init__(self, config: ReportingConfig) -> None:
        self._config = config
        self.enabled = config.enabled and bool(config.api_key)
        if config.enabled and not config.api_key:
            logger.warning("INFRAPRISM_API_KEY is not set: LLM calls are not reported")
        self._transport = (
            BatchTransport(
                base_url=config.base_url,
                api_key=config.api_key or "",
                timeout=config.request_timeout,
            )
            if self.enabled
            else None
        )
        self._compress = True
        self._finalizer = Finalizer()
        self._closed = False
        self._exit_hook: Callable[[], None] = _nothing
        self._reset_process_state()
        if self.enabled:
            self._register_process_hooks()

    # --- caller side ---------------------------------------------------------------------

    def enqueue(self, event: Event) -> None:
        """Queue one event; never blocks on the network, never raises."""
        if not self.enabled or self._closed:
            return
        with self._lock:
            if len(self._queue) >= self._config.max_queue_size:
                self._queue.popleft()
                self.stats.dropped += 1
                dropped = self.stats.dropped
            else:
                dropped = 0
            self._queue.append(event)
            queued = len(self._queue)
            if self._thread is None:
                self._start_thread()
        if queued >= self._config.batch_size:
            self._wakeup.set()
        if dropped and (dropped == 1 or dropped % 1000 == 0):
            logger.warning(
                "InfraPrism queue full (%d events): dropped the oldest, %d so far",
                self._config.max_queue_size,
                dropped,
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True when it was all handled within `timeout`."""
        if not self.enabled:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            if self._thread is None and not self._queue:
                return True
            self._wakeup.set()
            while self._queue or self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def flush_within(self, timeout: float | None) -> bool:
        """`flush` for the clients: no timeout means the exit timeout, never forever."""
        return self.flush(self._config.exit_timeout if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush for at most `timeout` seconds (default: exit_timeout), then stop the thread."""
        if self._closed:
            return
        self._shutdown(self._config.exit_timeout if timeout is None else timeout)
        self._closed = True
        atexit.unregister(self._exit_hook)
        if self._transport is not None:
            self._transport.close()

    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + self._in_flight

    # --- process lifecycle ---------------------------------------------------------------

    def _reset_process_state(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._wakeup = threading.Event()
        self._queue: deque[Event] = deque()
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._stop_signal = threading.Event()
        self._deadline: float | None = None
        self.stats = SenderStats()

    def _register_process_hooks(self) -> None:
        # Weak references only: the hooks must not keep a dropped client's sender alive.
        ref = weakref.ref(self)

        def after_fork_in_child() -> None:
            sender = ref()
            if sender is not None:
                sender._after_fork_in_child()

        def at_exit() -> None:
            sender = ref()
            if sender is not None:
                sender._shutdown(sender._config.exit_timeout)

        os.register_at_fork(after_in_child=after_fork_in_child)
        self._exit_hook = at_exit
        atexit.register(at_exit)

    def _after_fork_in_child(self) -> None:
        """The parent's queue, thread and sockets stay the parent's: start afresh."""
        self._reset_process_state()
        if self._transport is not None:
            self._transport.forget_connections()

    def _start_thread(self) -> None:  # called with the lock held
        self._thread = threading.Thread(target=self._run, name="infraprism-sender", daemon=True)
        self._thread.start()

    def _shutdown(self, timeout: float) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._deadline = time.monotonic() + timeout
        self._stopping = True
        self._stop_signal.set()
        self._wakeup.set()
        thread.join(timeout + 1.0)
        lost = self.pending()
        if lost:
            logger.warning("InfraPrism: %d events not delivered before shutdown", lost)

    # --- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wakeup.wait(self._config.flush_interval)
            self._wakeup.clear()
            while batch := self._take_batch():
                try:
                    self._deliver(batch)
                except Exception:  # the thread must survive anything
                    logger.exception("InfraPrism: unexpected error while sending events")
                self._batch_done()
            if self._stopping:
                self._discard_rest()
                return

    def _take_batch(self) -> list[Event]:
        with self._lock:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return []
            size = min(len(self._queue), self._config.max_batch_size)
            batch = [self._queue.popleft() for _ in range(size)]
            self._in_flight = size
            return batch

    def _batch_done(self) -> None:
        with self._idle:
            self._in_flight = 0
            if not self._queue:
                self._idle.notify_all()

    def _discard_rest(self) -> None:
        with self._idle:
            self.stats.failed += len(self._queue)
            self._queue.clear()
            self._idle.notify_all()

    def _deliver(self, batch: list[Event]) -> None:
        assert self._transport is not None
        payload = encode_batch(self._finalizer.batch(batch))
        attempt = 0
        while True:
            wait: float | None
            try:
                response = self._transport.post(payload, compress=self._compress)
            except TransportError as exc:
                reason, wait = str(exc), None
            else:
                status = response.status
                if status in (200, 201, 202):
                    self.stats.delivered += len(batch)
                    return
                if status == 207:
                    self._log_rejected(batch, response.body)
                    return
                if status == 415 and self._compress:
                    # A server from before gzip support: send plain JSON from now on.
                    logger.warning("InfraPrism server refused gzip (415): sending uncompressed")
                    self._compress = False
                    continue
                if status != 429 and status < 500:
                    self.stats.failed += len(batch)
                    logger.error(
                        "InfraPrism refused a batch of %d events (HTTP %d): %s",
                        len(batch),
                        status,
                        _error_message(response.body),
                    )
                    return
                reason, wait = f"HTTP {status}", response.retry_after
            delay = self._retry_delay(attempt, wait)
            attempt += 1
            if self._deadline is not None and time.monotonic() + delay > self._deadline:
                self.stats.failed += len(batch)
                logger.warning(
                    "InfraPrism: gave up on %d events at shutdown (%s)", len(batch), reason
                )
                return
            logger.info("InfraPrism: %s; retrying %d events in %.2fs", reason, len(batch), delay)
            if self._stop_signal.is_set():
                time.sleep(delay)
            else:
                # Shutdown cuts this wait short: one more try at once, then backoff within
                # the shutdown's deadline.
                self._stop_signal.wait(delay)

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # The server said when: wait that long, plus a little jitter so clients spread out.
            return retry_after + random.uniform(0, min(1.0, 0.1 * retry_after + 0.05))
        ceiling = min(self._config.max_backoff, _BASE_BACKOFF * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)

    def _log_rejected(self, batch: list[Event], body: object) -> None:
        errors = body.get("errors") if isinstance(body, dict) else None
        rejected = errors if isinstance(errors, list) else []
        self.stats.rejected += len(rejected)
        self.stats.delivered += len(batch) - len(rejected)
        for item in rejected:
            if not isinstance(item, dict):
                continue
            logger.warning(
                "InfraPrism rejected event %s (index %s in its batch): %s",
                item.get("event_id"),
                item.get("index"),
                describe_errors(item.get("errors")),
            )


def _nothing() -> None:
    return None


def _error_message(body: object) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return "no JSON body"
