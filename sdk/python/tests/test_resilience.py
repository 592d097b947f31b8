"""Delivery against the live server when things go wrong or processes come and go: InfraPrism
down for part of a run, its rate limit (429 with Retry-After), interpreter exit right after the
calls, and a forked child."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from infraprism import InfraPrismOpenAI
from tests.conftest import ClientFactory
from tests.support.fake_openai import FakeOpenAI
from tests.support.live_server import Gunicorn, LiveServer, server_env, wait_until

MESSAGES = [{"role": "user", "content": "Is anyone there?"}]


def calls_of(live: LiveServer, session_id: str, turns: int) -> list[dict[str, Any]]:
    session = live.wait_for_session(session_id, turns=turns)
    assert session["turn_count"] == turns
    calls: list[dict[str, Any]] = session["calls"]
    return calls


def test_events_made_while_infraprism_is_down_arrive_once_it_returns(
    make_client: ClientFactory, live: LiveServer, sdk_log: pytest.LogCaptureFixture
) -> None:
    session_id = f"outage-{uuid.uuid4()}"
    client: InfraPrismOpenAI = make_client(
        infraprism_base_url=live.url,
        infraprism_api_key=live.api_key,
        infraprism_flush_interval=0.2,
        infraprism_max_backoff=1.0,
    )

    def one_of_each(number: int) -> None:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, session_id=session_id)
        client.responses.create(model="gpt-4o", input=f"call {number}", session_id=session_id)
        client.embeddings.create(
            model="text-embedding-3-small", input=f"text {number}", session_id=session_id
        )

    one_of_each(0)
    assert client.flush(timeout=20)
    live.gunicorn.stop()
    try:
        for number in range(1, 4):
            one_of_each(number)  # the LLM calls go on while InfraPrism is away
        wait_until(
            lambda: any("retrying" in r.getMessage() for r in sdk_log.records),
            timeout=20,
            what="the sender to retry",
        )
        assert client.flush(timeout=1) is False
    finally:
        live.gunicorn.start()  # same port
    assert client.flush(timeout=30)
    calls = calls_of(live, session_id, 12)
    assert len({c["event_id"] for c in calls}) == 12
    sender = client._infraprism_reporter.sender
    assert sender.stats.delivered == 12
    assert sender._compress  # the live server took every batch gzip-compressed (no 415)
    assert {c["status"] for c in calls} == {"success"}


def test_rate_limited_batches_wait_for_retry_after_and_all_arrive(
    make_client: ClientFactory, live: LiveServer, sdk_log: pytest.LogCaptureFixture
) -> None:
    # One batch per 3-second window for this key: three batches in a row meet a 429.
    limited = Gunicorn(port=_free_port(), env=server_env(INGEST_RATE_LIMIT="1/3s"))
    limited.start()
    live.extra.append(limited)
    try:
        session_id = f"ratelimit-{uuid.uuid4()}"
        client: InfraPrismOpenAI = make_client(
            infraprism_base_url=limited.url,
            infraprism_api_key=live.api_key,
            infraprism_flush_interval=3600,
        )
        sender = client._infraprism_reporter.sender
        # A backlog of 2,500 (as after an outage) goes out as three batches in a row.
        events = [
            {"model": "gpt-4o", "session_id": session_id, "input_tokens": number}
            for number in range(2500)
        ]
        sender._queue.extend(events[:-1])
        sender.enqueue(events[-1])
        assert client.flush(timeout=60)
    finally:
        limited.stop()
        live.extra.remove(limited)
    retries = [r for r in sdk_log.records if r.getMessage().startswith("InfraPrism: HTTP 429")]
    assert retries, "no 429 was met"
    session = live.wait_for_session(session_id, turns=2500)
    assert session["turn_count"] == 2500
    assert session["input_tokens"] == sum(range(2500))  # each event once
    assert sender.stats.delivered == 2500


def _free_port() -> int:
    from tests.support.live_server import free_port

    return free_port()


EXITING_SCRIPT = """
    from infraprism import InfraPrismOpenAI

    # A flush interval of an hour: only the flush at interpreter exit can deliver these.
    client = InfraPrismOpenAI(infraprism_flush_interval=3600)
    for number in range(3):
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": f"question {number}"}],
            session_id=SESSION_ID,
            entity_type="customer",
            entity_id="exit-corp",
        )
    print("calls made")
"""


def test_events_are_flushed_when_the_interpreter_exits(
    live: LiveServer, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    session_id = f"exit-{uuid.uuid4()}"
    script = tmp_path / "exits.py"
    script.write_text(f"SESSION_ID = {session_id!r}\n" + textwrap.dedent(EXITING_SCRIPT))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFRAPRISM_", "OPENAI_"))}
    env.update(
        OPENAI_API_KEY="sk-fake",
        OPENAI_BASE_URL=fake_openai.base_url,
        INFRAPRISM_API_KEY=live.api_key,
        INFRAPRISM_BASE_URL=live.url,
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "calls made"
    calls = calls_of(live, session_id, 3)
    assert {c["entity_id"] for c in calls} == {"exit-corp"}


UNREACHABLE_SCRIPT = """
    import socket
    from infraprism import InfraPrismOpenAI

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = InfraPrismOpenAI(
        infraprism_base_url=f"http://127.0.0.1:{port}", infraprism_exit_timeout=1
    )
    for number in range(3):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"question {number}"}]
        )
    print("calls made")
"""


def test_exit_gives_up_on_an_unreachable_infraprism_after_its_timeout(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    script = tmp_path / "unreachable.py"
    script.write_text(textwrap.dedent(UNREACHABLE_SCRIPT))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFRAPRISM_", "OPENAI_"))}
    env.update(
        OPENAI_API_KEY="sk-fake", OPENAI_BASE_URL=fake_openai.base_url, INFRAPRISM_API_KEY="ip-x"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # the process exits by itself: the exit flush is bounded
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "calls made"  # the LLM calls were never affected
    assert "gave up on 3 events at shutdown" in done.stderr


def test_a_forked_child_reports_its_own_events(
    make_client: ClientFactory, live: LiveServer
) -> None:
    session_id = f"fork-{uuid.uuid4()}"
    client: InfraPrismOpenAI = make_client(
        infraprism_base_url=live.url,
        infraprism_api_key=live.api_key,
        infraprism_flush_interval=3600,
    )

    def call(who: str) -> None:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": who}],
            session_id=session_id,
            tags={"process": who},
        )

    call("parent")  # started the parent's sender thread; the event waits in its queue
    sender = client._infraprism_reporter.sender
    assert sender.pending() == 1
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a fresh, empty queue and its own thread
        code = 1
        try:
            os.close(read_end)
            inherited = sender.pending()
            call("child")
            call("child")
            delivered = client.flush(timeout=30)
            os.write(write_end, f"{inherited} {delivered} {sender.stats.delivered}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    report = os.read(read_end, 100).decode()
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == "0 True 2"  # nothing inherited, both of its own delivered
    assert client.flush(timeout=30)
    calls = calls_of(live, session_id, 3)
    assert sorted(c["tags"]["process"] for c in calls) == ["child", "child", "parent"]
