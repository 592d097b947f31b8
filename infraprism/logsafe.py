"""Text from a request, made safe for a log line (no Django import: gunicorn's logger uses it).

Control characters (C0, DEL, C1) and the Unicode line and paragraph separators are written as
their escapes, so a decoded path holding "%0A" cannot start a forged line and a User-Agent
cannot send terminal escape sequences. Backslashes are doubled, so an escape in the log always
means an escaped character.
"""

_ESCAPES = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
}
_ESCAPES[ord("\\")] = "\\\\"


def log_safe(text: object) -> str:
    """`text` for a log line: one line, every control character escaped."""
    return str(text).translate(_ESCAPES)
