"""The orderings lists can be read in; each ends in a key unique within an organization, so
ties fall the same way on every engine and keyset pages neither skip nor repeat a row."""

from analytics.pagination import Ordering


def _orderings(public: str, field: str) -> dict[str, Ordering]:
    return {
        public: Ordering(public, field, "session_id", descending=False),
        f"-{public}": Ordering(f"-{public}", field, "session_id", descending=True),
    }


SESSION_ORDERINGS: dict[str, Ordering] = {
    **_orderings("last_seen", "last_seen"),
    **_orderings("first_seen", "first_seen"),
    **_orderings("total_cost", "total_cost_nanos"),
    **_orderings("turn_count", "turn_count"),
    **_orderings("session_id", "session_id"),
}
DEFAULT_SESSION_ORDERING = "-last_seen"
# Orderings for a complete walk through every page while calls keep arriving: a session's id
# never changes, so such a walk neither skips nor repeats a session that existed when it began.
# first_seen moves only when a call older than the session's first one arrives late; last_seen,
# total_cost and turn_count move with every call (docs/api.md, "Paging").
STABLE_SESSION_ORDERINGS = ("session_id", "-session_id")
EVENTS_NEWEST_FIRST = Ordering("-timestamp", "timestamp", "event_id", descending=True)
CALLS_IN_TIME_ORDER = Ordering("timestamp", "timestamp", "event_id", descending=False)
