"""SDK overhead: what InfraPrismOpenAI adds to an LLM call, and how fast its sender delivers.

Runs with the SDK's virtualenv (the server's venv has no openai), from the repository root:

    make sdk-test   # once, builds sdk/python/.venv
    sdk/python/.venv/bin/python bench/sdk_overhead.py [--calls N] [--events N]

1. Call overhead: the same chat completion through the bare `openai.OpenAI` and through
   `InfraPrismOpenAI` (with entity, session and tags), against the same fake OpenAI upstream
   (sdk/python/tests/support/fake_openai.py, in its own process), interleaved call by call.
   Figure: p50(InfraPrism) - p50(bare). Target <= 0.2 ms. Also printed: the median of the
   call-by-call differences. The SDK's sender is live during the
   run and delivers to a local batch sink, so its background work is part of the figure.
   A second, quieter figure runs both clients over an in-process httpx2 transport (no socket
   at all): the SDK's own cost without the network's noise.
2. Sender throughput: events like the SDK builds, delivered by one sender (gzip, batches of up
   to 1,000) to a minimal local batch sink in its own process (sdk/python/tests/support/sink.py:
   it inflates and parses every batch, answers 202). Figure: events per second from a queued
   backlog until the sink has counted them all. Target >= 20,000/s. Also printed: the rate while
   a producer thread queues the events at full speed in the same interpreter.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SDK_DIR = Path(__file__).resolve().parents[1] / "sdk" / "python"
sys.path.insert(1, str(SDK_DIR))

try:
    import httpx2
    import openai
    from infraprism._config import resolve_config
    from infraprism._sender import Sender

    from infraprism import InfraPrismOpenAI
except ImportError:  # pragma: no cover - wrong interpreter
    sys.exit("run with the SDK's venv: sdk/python/.venv/bin/python bench/sdk_overhead.py")

MESSAGES: Any = [{"role": "user", "content": "What is machine learning?"}]
ATTRIBUTION = {
    "entity_type": "customer",
    "entity_id": "acme-corp",
    "session_id": "bench-session",
    "tags": {"feature": "chatbot"},
}


def summary_line(figure: str, value: float, op: str, target: float, unit: str, fmt: str) -> str:
    ok = value <= target if op == "<=" else value >= target
    return (
        f"{figure}: {value:{fmt}}{unit} target: {op}{target:{fmt}}{unit} {'ok' if ok else 'short'}"
    )


class Served:
    """A fake upstream or sink in a child process; stopped by closing its stdin."""

    def __init__(self, kind: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.serve", kind],
            cwd=SDK_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def interleaved(
    bare: Callable[[], Any], sdk: Callable[[], Any], calls: int
) -> tuple[list[float], list[float]]:
    """Milliseconds per call for each client, alternating which goes first."""
    for _ in range(200):  # warm-up: connections, imports, caches
        bare()
        sdk()
    bare_ms: list[float] = []
    sdk_ms: list[float] = []
    clock = time.perf_counter_ns
    for number in range(calls):
        order = ((bare, bare_ms), (sdk, sdk_ms))
        for call, into in order if number % 2 else reversed(order):
            started = clock()
            call()
            into.append((clock() - started) / 1e6)
    return bare_ms, sdk_ms


def canned_chat_completion(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Machine learning is..."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 20,
                "completion_tokens": 10,
                "total_tokens": 30,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        },
    )


def call_overhead(calls: int, sink_url: str) -> dict[str, float]:
    upstream = Served("fake")
    try:
        bare_client = openai.OpenAI(api_key="sk-bench", base_url=upstream.url)
        sdk_client = InfraPrismOpenAI(
            api_key="sk-bench",
            base_url=upstream.url,
            infraprism_api_key="ip-bench",
            infraprism_base_url=sink_url,
        )
        bare_ms, sdk_ms = interleaved(
            lambda: bare_client.chat.completions.create(model="gpt-4o", messages=MESSAGES),
            lambda: sdk_client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, **ATTRIBUTION
            ),
            calls,
        )
        assert sdk_client.flush(timeout=30)
        delivered = sdk_client._infraprism_reporter.sender.stats.delivered
        sdk_client.close()
        bare_client.close()
    finally:
        upstream.stop()

    transport = httpx2.MockTransport(canned_chat_completion)
    bare_local = openai.OpenAI(
        api_key="sk-bench", base_url="http://upstream.invalid/v1",
        http_client=httpx2.Client(transport=transport),
    )  # fmt: skip
    sdk_local = InfraPrismOpenAI(
        api_key="sk-bench", base_url="http://upstream.invalid/v1",
        http_client=httpx2.Client(transport=transport),
        infraprism_api_key="ip-bench", infraprism_base_url=sink_url,
    )  # fmt: skip
    local_bare, local_sdk = interleaved(
        lambda: bare_local.chat.completions.create(model="gpt-4o", messages=MESSAGES),
        lambda: sdk_local.chat.completions.create(model="gpt-4o", messages=MESSAGES, **ATTRIBUTION),
        calls,
    )
    sdk_local.close()
    return {
        "bare_p50": statistics.median(bare_ms),
        "sdk_p50": statistics.median(sdk_ms),
        "bare_p95": percentile(bare_ms, 0.95),
        "sdk_p95": percentile(sdk_ms, 0.95),
        "overhead_p50": statistics.median(sdk_ms) - statistics.median(bare_ms),
        # Call by call (each SDK call against the bare call next to it): less sensitive to the
        # machine's load drifting during the run.
        "paired_overhead_p50": statistics.median(
            s - b for b, s in zip(bare_ms, sdk_ms, strict=True)
        ),
        "local_bare_p50": statistics.median(local_bare),
        "local_sdk_p50": statistics.median(local_sdk),
        "local_overhead_p50": statistics.median(local_sdk) - statistics.median(local_bare),
        "reported": delivered,
    }


def sink_count(url: str) -> int:
    count: int = httpx2.get(f"{url}/count", timeout=5).json()["events"]
    return count


def bench_event(number: int) -> dict[str, Any]:
    """An event as the SDK's caller thread leaves it (id and ISO time filled by the sender)."""
    return {
        "event_id": None,
        "timestamp": time.time(),
        "model": "gpt-4o-2024-08-06",
        "provider": "openai",
        "latency_ms": 412,
        "status": "success",
        "input_tokens": 1200 + number % 50,
        "output_tokens": 300,
        "cached_input_tokens": 600,
        "entity_type": "customer",
        "entity_id": f"customer-{number % 100}",
        "session_id": f"session-{number // 5}",
        "tags": {"feature": "chatbot", "plan": "pro"},
    }


def new_sender(events: int, sink_url: str) -> Sender:
    config = resolve_config(
        api_key="ip-bench",
        base_url=sink_url,
        max_queue_size=events,  # every event queued at once, none dropped
        flush_interval=1.0,
        exit_timeout=5.0,
        max_backoff=1.0,
    )
    return Sender(config)


def delivered(sender: Sender, sink_url: str, before: int, events: int, started: float) -> float:
    assert sender.flush(timeout=300)
    seconds = time.perf_counter() - started
    received = sink_count(sink_url) - before
    sender.close()
    assert received == events, (received, events)
    assert sender.stats.dropped == 0 and sender.stats.failed == 0
    return events / seconds


def sender_throughput(events: int, sink_url: str) -> dict[str, float]:
    """Two ways: (a) the sender draining a backlog (the queue filled first, as after an
    outage): its own rate; (b) a producer thread queueing as fast as it can while the sender
    delivers: both share the interpreter lock, so this is the lower, busier figure."""
    prepared = [bench_event(number) for number in range(events)]
    sender = new_sender(events, sink_url)
    before = sink_count(sink_url)
    started = time.perf_counter()
    # The backlog is put in place before the thread exists; the last enqueue starts it.
    sender._queue.extend(prepared[:-1])
    sender.enqueue(prepared[-1])
    backlog_rate = delivered(sender, sink_url, before, events, started)

    fresh = [bench_event(number) for number in range(events)]
    sender = new_sender(events, sink_url)
    before = sink_count(sink_url)
    started = time.perf_counter()
    for event in fresh:
        sender.enqueue(event)
    enqueue_rate = events / (time.perf_counter() - started)
    concurrent_rate = delivered(sender, sink_url, before, events, started)
    return {
        "events": events,
        "backlog_per_s": backlog_rate,
        "concurrent_per_s": concurrent_rate,
        "enqueue_per_s": enqueue_rate,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    sink = Served("sink")
    try:
        overhead = call_overhead(args.calls, sink.url)
        throughput = sender_throughput(args.events, sink.url)
    finally:
        sink.stop()
    print(f"\ncall latency over HTTP to the fake upstream, {args.calls} calls each, interleaved")
    print(f"{'':24}{'bare openai':>14}{'InfraPrismOpenAI':>18}{'overhead':>12}")
    print(
        f"{'p50 (ms)':24}{overhead['bare_p50']:>14.3f}{overhead['sdk_p50']:>18.3f}"
        f"{overhead['overhead_p50']:>12.3f}"
    )
    print(
        f"{'p95 (ms)':24}{overhead['bare_p95']:>14.3f}{overhead['sdk_p95']:>18.3f}"
        f"{overhead['sdk_p95'] - overhead['bare_p95']:>12.3f}"
    )
    print(f"{'p50 of paired diffs (ms)':24}{'':>32}{overhead['paired_overhead_p50']:>12.3f}")
    print(
        f"{'p50, in-process (ms)':24}{overhead['local_bare_p50']:>14.3f}"
        f"{overhead['local_sdk_p50']:>18.3f}{overhead['local_overhead_p50']:>12.3f}"
    )
    print(f"events the SDK delivered during the HTTP run: {overhead['reported']:.0f}")
    print(
        f"\nsender, {throughput['events']:.0f} events to the local sink (gzip, batches of <= 1,000)"
    )
    print(f"{'draining a backlog':44}{throughput['backlog_per_s']:>12,.0f} events/s")
    print(
        f"{'while a producer queues at ' + format(throughput['enqueue_per_s'], ',.0f') + '/s':44}"
        f"{throughput['concurrent_per_s']:>12,.0f} events/s"
    )
    print(json.dumps({"overhead": overhead, "throughput": throughput}))
    print(summary_line("sdk_call_overhead_p50", overhead["overhead_p50"], "<=", 0.2, " ms", ".3f"))
    print(
        summary_line(
            "sdk_sender_events_per_s", throughput["backlog_per_s"], ">=", 20_000, "/s", ",.0f"
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
