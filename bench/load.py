"""A keep-alive HTTP load generator: N client threads, bounded in requests and seconds."""

import http.client
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class Client:
    """One keep-alive HTTP/1.1 connection (http.client), reopened if the server closed it."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # Keep-alive connection closed by the server while idle: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    statuses: dict[int, int] = field(default_factory=dict)
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


Job = tuple[str, str, bytes | None]


def run_load(
    port: int,
    key: str,
    jobs: Callable[[int], Job],
    *,
    clients: int,
    max_requests: int,
    max_seconds: float,
    ok_statuses: tuple[int, ...] = (200, 202),
) -> LoadResult:
    """`clients` threads, each on its own keep-alive connection, take job numbers 0, 1, ...
    until `max_requests` were sent or `max_seconds` passed; `jobs(n)` builds request n."""
    result = LoadResult()
    counter = itertools.count()
    lock = threading.Lock()
    deadline = time.perf_counter() + max_seconds

    def worker() -> None:
        client = Client(port, key)
        local: list[float] = []
        statuses: dict[int, int] = {}
        try:
            while time.perf_counter() < deadline:
                with lock:
                    n = next(counter)
                if n >= max_requests:
                    break
                method, path, body = jobs(n)
                started = time.perf_counter()
                try:
                    status, payload = client.request(method, path, body)
                except OSError as exc:
                    with lock:
                        result.errors.append(f"{type(exc).__name__}: {exc}")
                    client.close()
                    client = Client(port, key)
                    continue
                elapsed = time.perf_counter() - started
                statuses[status] = statuses.get(status, 0) + 1
                if status in ok_statuses:
                    local.append(elapsed)
                elif len(result.errors) < 5:
                    with lock:
                        result.errors.append(f"HTTP {status}: {payload[:300]!r}")
        finally:
            client.close()
            with lock:
                result.latencies.extend(local)
                for status, count in statuses.items():
                    result.statuses[status] = result.statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - started
    return result


def timed_gets(
    client: Client, urls: list[str], *, warm_up: int, max_seconds: float, failures: list[str]
) -> list[float]:
    """GET each url in turn on one keep-alive connection, after `warm_up` untimed GETs
    (connections, caches, plans); stops after `max_seconds` once 20 are timed. Returns the
    latencies in seconds; the first five non-200 answers go into `failures`."""
    for url in urls[:warm_up]:
        client.request("GET", url)
    latencies: list[float] = []
    budget = time.perf_counter() + max_seconds
    for url in urls:
        if time.perf_counter() > budget and len(latencies) >= 20:
            break
        started = time.perf_counter()
        status, body = client.request("GET", url)
        latencies.append(time.perf_counter() - started)
        if status != 200 and len(failures) < 5:
            failures.append(f"{url}: HTTP {status} {body[:200]!r}")
    return latencies
