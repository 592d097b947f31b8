"""The inline (small batch) and COPY (large batch) write paths store the same thing."""

from ingestion.event_store import SMALL_BATCH
from ingestion.models import Event
from sessions.models import PendingRollup
from tests.factories import event


def _events(prefix, count):
    return [
        event(
            f"{prefix}-{i}",
            cost=0.000001 * (i + 1),
            session_id=f"{prefix}-s{i % 3}" if i % 4 else None,
            tags={"n": str(i)},
            timestamp="2025-03-01T10:00:00+02:00",
        )
        for i in range(count)
    ]


def _strip_none(events):
    return [{k: v for k, v in e.items() if v is not None} for e in events]


def test_inline_and_copy_paths_agree(client):
    for prefix, count in (("small", SMALL_BATCH), ("large", SMALL_BATCH + 5)):
        body = {"events": _strip_none(_events(prefix, count))}
        first = client.post_json("/v1/events/batch", body).json()
        again = client.post_json("/v1/events/batch", body).json()
        assert (first["accepted"], first["duplicates"]) == (count, 0)
        assert (again["accepted"], again["duplicates"]) == (count, count)
        stored = Event.objects.filter(event_id__startswith=f"{prefix}-")
        assert stored.count() == count
        with_session = stored.exclude(session_id=None)
        assert (
            PendingRollup.objects.filter(event_pk__in=with_session.values("id")).count()
            == with_session.count()
        )
        e2 = stored.get(event_id=f"{prefix}-2")
        assert e2.cost_nanos == 3000
        assert e2.tags == {"n": "2"}
        assert e2.timestamp.isoformat() == "2025-03-01T08:00:00+00:00"
