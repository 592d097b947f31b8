"""Where a drain's next claim starts, and what one chunk returns.

Claims go in (organization, session, id) order with sessionless rows last. A drain deletes
the rows it folds, but their index entries stay until vacuum: a claim that always started at
the organization's first row would walk past every entry the drain had already deleted, so the
chunks of one drain would cost more and more (quadratic in the backlog). The cursor lets each
claim resume at the last session the previous chunk claimed (`>=`: a session may straddle two
chunks), then at the sessionless rows once the claim has reached them.

The cursor only narrows where a claim looks: rows behind it that another worker held locked
are that worker's, and if it rolls back they stay pending for the next drain, as they would
after any failed chunk. A backend may ignore it (SQLite reads its queue from the start).
"""

from typing import NamedTuple


class ClaimCursor(NamedTuple):
    after_session: str | None = None  # claim sessions at or after this one (None: all)
    sessions_done: bool = False  # the session rows are done: claim only sessionless ones


START = ClaimCursor()


class ChunkResult(NamedTuple):
    claimed: int  # queue rows folded and deleted
    sessions: int  # sessions upserted
    cursor: ClaimCursor  # where the drain's next claim starts
