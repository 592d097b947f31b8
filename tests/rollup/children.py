"""Child processes of the rollup concurrency tests: `python -m tests.rollup.children COMMAND`.

- drain-on-go: print "ready", wait for a line on stdin, drain everything, print
  "done EVENTS CHUNKS".
- hold-one-chunk ORG LIMIT: claim and fold one chunk of the organization's pending rows inside
  a transaction, print "claimed ROWS SESSIONS", then hold the transaction open (the test kills
  the process to see the rollback).
- hold-then-commit ORG LIMIT: the same, then commit on a line on stdin and print "committed".
"""

import signal
import sys

import django


def drain_on_go() -> None:
    from sessions.services import session_rollup_drain

    print("ready", flush=True)
    sys.stdin.readline()
    stats = session_rollup_drain()
    print(f"done {stats.events} {stats.chunks}", flush=True)


def hold_one_chunk(organization_id: int, limit: int) -> None:
    from django.db import transaction

    from sessions.rollup import rollup_backend

    with transaction.atomic():
        claimed, sessions, _cursor = rollup_backend().rollup_chunk(
            organization_id=organization_id, limit=limit, up_to=2**62
        )
        print(f"claimed {claimed} {sessions}", flush=True)
        signal.pause()  # until the test kills the process


def hold_then_commit(organization_id: int, limit: int) -> None:
    from django.db import transaction

    from sessions.rollup import rollup_backend

    with transaction.atomic():
        claimed, sessions, _cursor = rollup_backend().rollup_chunk(
            organization_id=organization_id, limit=limit, up_to=2**62
        )
        print(f"claimed {claimed} {sessions}", flush=True)
        sys.stdin.readline()
    print("committed", flush=True)


def main(argv: list[str]) -> None:
    django.setup()
    command, *args = argv
    if command == "drain-on-go":
        drain_on_go()
    elif command == "hold-one-chunk":
        hold_one_chunk(int(args[0]), int(args[1]))
    elif command == "hold-then-commit":
        hold_then_commit(int(args[0]), int(args[1]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
