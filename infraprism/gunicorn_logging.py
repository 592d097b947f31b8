"""gunicorn's access log with every request-supplied value escaped (infraprism.logsafe).

gunicorn writes the request line, Referer and User-Agent as received: control characters such
as ESC or a vertical tab reach the log raw. Used by gunicorn.conf.py (`logger_class`).
"""

from typing import Any

from gunicorn import glogging

from infraprism.logsafe import log_safe


class EscapedAtoms(glogging.SafeAtoms):
    def __init__(self, atoms: dict[str, Any]) -> None:
        super().__init__({k: log_safe(v) if isinstance(v, str) else v for k, v in atoms.items()})


class AccessLogger(glogging.Logger):
    atoms_wrapper_class = EscapedAtoms
