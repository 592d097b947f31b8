"""Session ids in URL paths. Ids may contain '/', so `sessions/<id>/timeline` is ambiguous
once Django has decoded the path: `a/timeline` may be the timeline of `a` or the session whose
id is `a/timeline` (sent as `a%2Ftimeline`)."""

from collections.abc import Callable
from urllib.parse import urlsplit

_SUFFIX = "/timeline"


def split_timeline_path(
    rest: str, *, raw_uri: str | None, session_exists: Callable[[str], bool]
) -> tuple[str, bool]:
    """(session_id, is_timeline) from a decoded path that ends in `/timeline`.

    A literal `/timeline` suffix selects the timeline; `%2Ftimeline` is part of the id. The
    raw URI tells them apart when the server provides it (gunicorn, uwsgi); otherwise an id
    that exists as a whole wins.
    """
    if raw_uri:
        literal = urlsplit(raw_uri).path.endswith(_SUFFIX)
        return (rest[: -len(_SUFFIX)], True) if literal else (rest, False)
    whole = "\x00" not in rest and session_exists(rest)
    return (rest, False) if whole else (rest[: -len(_SUFFIX)], True)
