"""The multiprocess directory: set before prometheus_client is imported, tidied by gunicorn.

No prometheus_client import at module level: settings.py and gunicorn.conf.py import this
before the client may be imported (it reads PROMETHEUS_MULTIPROC_DIR once, on import).
"""

import os
import re
from pathlib import Path

ENV_NAME = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client names its files <type>[_<gauge mode>]_<pid>.db.
_PID_IN_NAME = re.compile(r"_(\d+)\.db$")


def prepare_multiproc_dir(*, default: Path) -> Path:
    """Use $PROMETHEUS_MULTIPROC_DIR, else `default`; create it and export it to children."""
    path = Path(os.environ.get(ENV_NAME) or default)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV_NAME] = str(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_dead_process_files(path: Path) -> int:
    """At server start: drop the files of processes that no longer run (an earlier server).

    The files of live processes (a Celery worker sharing the directory) are kept, so their
    counters carry on. Returns how many files were removed.
    """
    removed = 0
    for file in path.glob("*.db"):
        match = _PID_IN_NAME.search(file.name)
        if match and not _alive(int(match.group(1))):
            file.unlink(missing_ok=True)
            removed += 1
    return removed


def worker_exited(pid: int) -> None:
    """gunicorn child_exit: drop the dead worker's live-gauge files.

    Its counter and histogram files stay: removing them would make the summed counters go
    down, which Prometheus reads as a reset and turns into a false spike in rate().
    """
    if not os.environ.get(ENV_NAME):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
