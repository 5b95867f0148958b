"""Text shown to users: values quoted on one line, at bounded length.

Every message that quotes a user value goes through [`short`][topo.utils.text.short] (a bounded ``repr``)
or [`one_line`][topo.utils.text.one_line] (control characters shown as escapes), so that a huge string, a deep
list or an ANSI escape in a node name never floods or corrupts a terminal.

Examples
--------
>>> from topo.utils.text import short
>>> short("x" * 1000)[:12], len(short("x" * 1000)) <= 80
("'xxxxxxxxxxx", True)
"""

from __future__ import annotations

import reprlib
from typing import Any

import numpy as np

__all__ = ["MAX_QUOTE", "one_line", "short", "describe_cycle", "count_repr"]

#: At most this many characters of a user value are quoted in an error message.
MAX_QUOTE = 80


_repr = reprlib.Repr()
_repr.maxstring = MAX_QUOTE
_repr.maxother = MAX_QUOTE
_repr.maxlevel = 3
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` with control characters (newlines, ANSI escapes) shown as ``\\xNN`` escapes,
    cut to ``limit`` characters (with ``...``).

    Examples
    --------
    >>> one_line("a\\nb\\x1b[31m")
    'a\\\\nb\\\\x1b[31m'
    """
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 32 or code == 127 or 0x80 <= code < 0xA0 or ch in "\u2028\u2029\u202e\u200b":
            out.append(f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")
        else:
            out.append(ch)
        if limit is not None and len(out) > limit:
            break
    s = "".join(out)
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 3, 0)] + "..."
    return s


def short(value: Any) -> str:
    """A one-line ``repr`` of ``value`` of at most `MAX_QUOTE` characters.

    Safe on any object: huge or deeply nested containers, shared references (a YAML
    alias), objects whose ``repr`` fails.

    Examples
    --------
    >>> short([1, [2, [3, [4, [5]]]]])
    '[1, [2, [...]]]'
    >>> short("a\\nb")
    "'a\\\\nb'"
    """
    try:
        if isinstance(value, str):
            text = repr(value[: MAX_QUOTE + 1])
        elif isinstance(value, np.ndarray):
            text = f"array of shape {value.shape} and dtype {value.dtype}"
        else:
            text = _repr.repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__} object>"
    return one_line(text, MAX_QUOTE)




def describe_cycle(cycle: list) -> str:
    """``"the network graph has a directed cycle: a -> b -> a"``, long cycles shortened.

    Examples
    --------
    >>> describe_cycle(["a", "b"])
    "the network graph has a directed cycle: 'a' -> 'b' -> 'a'"
    """
    shown = list(cycle) + list(cycle[:1])
    if len(shown) > 12:  # a long cycle: its start and end
        path = " -> ".join(short(v) for v in shown[:6]) + f" -> ... ({len(cycle) - 10} more) -> " + \
            " -> ".join(short(v) for v in shown[-5:])
    else:
        path = " -> ".join(short(v) for v in shown)
    return f"the network graph has a directed cycle: {path}"


def count_repr(n: int) -> int | str:
    """A component count for JSON: the integer up to 2^60, else the string ``"2^k"``
    (the decimal expansion of 2^100000 has 30,000 digits).

    Examples
    --------
    >>> count_repr(8), count_repr(2**100)
    (8, '2^100')
    """
    if n <= 2**60:
        return n
    k = n.bit_length() - 1
    return f"2^{k}" if n == 1 << k else str(n)
