"""Run the fake upstream or the batch sink in a process of its own (for the benchmark, so that
its request handling does not share the measured process's interpreter lock).

    python -m tests.support.serve fake|sink

prints the base URL, then serves until its standard input closes. The sink also answers
`GET /count` with the number of events it has received.
"""

from __future__ import annotations

import sys

from tests.support.fake_openai import start_fake_openai
from tests.support.sink import start_sink


def main() -> None:
    kind = sys.argv[1]
    if kind == "fake":
        print(start_fake_openai().base_url, flush=True)
    else:
        sink = start_sink()
        sink.record_events = False
        print(sink.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or exits)


if __name__ == "__main__":
    main()
