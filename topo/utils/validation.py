"""Checks shared by every entry point (spec files, the CLI, ``Architecture`` constructors,
parameter and balance vectors): types, ranges and sizes, tested *before* any work.

The rules, applied everywhere the same way:

- **Strings are not booleans** and **booleans are not numbers**: ``trainable: 'false'``
  and ``size: true`` are refused, not read as ``True`` and ``1``.
- **Floats are not integers**: a count (a width, an edge size, a node index) must be an
  integer, or a float holding a whole number (``8.0``); ``2.7`` is refused, never truncated.
- **Sizes have upper bounds** (:data:`LIMITS`): a request above them is refused with a
  message naming the limit and how to raise it, before anything is allocated.
- **Messages quote at most** ``MAX_QUOTE`` **characters of a value** (:mod:`topo.utils.text`),
  on one line, whatever the value (a huge string, a deep list, a control character).

Examples
--------
>>> from topo.utils.validation import check_count, check_bool
>>> check_count(8.0, "width")
8
>>> check_count(2.7, "width")
Traceback (most recent call last):
...
topo.errors.GraphError: width must be a whole number, got 2.7
>>> check_bool("false", "trainable")
Traceback (most recent call last):
...
topo.errors.GraphError: trainable must be true or false (a boolean), got the string 'false'
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo.errors import GraphError, ParameterError, TopoError
from topo.utils.text import MAX_QUOTE, one_line, short

__all__ = ["Limits", "LIMITS", "check_count", "check_bool", "check_name", "check_size_budget",
           "real_vector", "real_vector_of_length", "first_non_finite"]


@dataclass
class Limits:
    """Upper bounds checked before any work (change them on :data:`LIMITS`).

    Attributes
    ----------
    max_nodes, max_edges, max_params : int
        Largest architecture accepted by the constructors, ``Architecture.mlp`` and
        spec files (a network at the limit needs a few GiB of index arrays).
    max_spec_bytes : int
        Largest spec file read.
    max_samples : int
        Largest ``--sample`` (``topo.audit(sample=...)``): the persistent-homology check
        costs ~N² distance evaluations on N points.
    """

    max_nodes: int = 20_000_000
    max_edges: int = 200_000_000
    max_params: int = 2_000_000_000
    max_spec_bytes: int = 256 * 2**20
    max_samples: int = 100_000


#: The limits in force; e.g. ``topo.LIMITS.max_edges = 10**9`` raises one.
LIMITS = Limits()

def _what_type(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {short(value)}"
    return short(value)


def _show_int(n: int) -> str:
    return str(n) if abs(n) < 10**30 else ("-" if n < 0 else "") + "a number with more than 30 digits"


def check_count(value: Any, what: str, *, minimum: int = 1, maximum: int | None = None,
                error: type[TopoError] = GraphError) -> int:
    """``value`` as a Python ``int`` in ``[minimum, maximum]``.

    Accepts ints, numpy integers and floats holding a whole number; refuses booleans,
    strings, non-whole floats, NaN and infinities with ``error`` naming ``what``.

    Examples
    --------
    >>> check_count(3, "size"), check_count(np.int8(2), "size")
    (3, 2)
    >>> check_count(True, "size")
    Traceback (most recent call last):
    ...
    topo.errors.GraphError: size must be an integer, got True
    """
    if isinstance(value, (bool, np.bool_)):
        raise error(f"{what} must be an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        out = int(value)
    elif isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or not float(value).is_integer():
            raise error(f"{what} must be a whole number, got {short(value)}")
        out = int(value)
    else:
        raise error(f"{what} must be an integer, got {_what_type(value)}")
    if out < minimum:
        raise error(f"{what} must be >= {minimum}, got {_show_int(out)}")
    if maximum is not None and out > maximum:
        raise error(f"{what} is {_show_int(out)}; the limit is {maximum}")
    return out


def check_bool(value: Any, what: str, *, error: type[TopoError] = GraphError) -> bool:
    """``value`` as a ``bool``; only ``True``/``False`` (and numpy booleans) are accepted.

    Examples
    --------
    >>> check_bool(np.True_, "bias")
    True
    >>> check_bool(1, "bias")
    Traceback (most recent call last):
    ...
    topo.errors.GraphError: bias must be true or false (a boolean), got 1
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise error(f"{what} must be true or false (a boolean), got {_what_type(value)}")


def check_name(value: Any, what: str = "node name", *, error: type[TopoError] = GraphError) -> Hashable:
    """``value`` if it can name a node: hashable and equal to itself (not NaN).

    Examples
    --------
    >>> check_name(["a"])
    Traceback (most recent call last):
    ...
    topo.errors.GraphError: node name must be hashable (a string, a number, a tuple), got ['a'] (list)
    """
    try:
        hash(value)
    except TypeError:
        raise error(f"{what} must be hashable (a string, a number, a tuple), got "
                    f"{short(value)} ({type(value).__name__})") from None
    try:
        ok = bool(value == value)
    except Exception:  # noqa: BLE001 - e.g. an object whose == returns an array
        ok = False
    if not ok:
        raise error(f"{what} {short(value)} is not equal to itself (NaN cannot name a node)")
    return value


def check_size_budget(n_nodes: int, n_edges: int, n_params: int | None = None, *, what: str = "network",
                      error: type[TopoError] = GraphError) -> None:
    """Refuse a network above :data:`LIMITS`, before it is built.

    Examples
    --------
    >>> check_size_budget(10, 3 * 10**9, what="MLP [100000, 30000]")
    Traceback (most recent call last):
    ...
    topo.errors.GraphError: MLP [100000, 30000] would have 3000000000 edges; the limit is 200000000 (topo.LIMITS.max_edges)
    """
    for count, limit, name in ((n_nodes, LIMITS.max_nodes, "nodes"), (n_edges, LIMITS.max_edges, "edges"),
                               (n_params, LIMITS.max_params, "parameters")):
        if count is not None and count > limit:
            raise error(f"{what} would have {_show_int(count)} {name}; the limit is {limit} "
                        f"(topo.LIMITS.max_{name if name != 'parameters' else 'params'})")


def real_vector(value: Any, what: str, *, error: type[TopoError] = ParameterError) -> np.ndarray:
    """``value`` as a float64 array, refusing strings, booleans-as-text, complex numbers
    and objects (numpy would silently parse ``"1.5"`` or drop an imaginary part).

    Examples
    --------
    >>> real_vector([1, 2.5], "theta")
    array([1. , 2.5])
    >>> real_vector([1 + 2j], "theta")
    Traceback (most recent call last):
    ...
    topo.errors.ParameterError: theta has complex values (e.g. (1+2j)); parameters must be real
    """
    if isinstance(value, (str, bytes)):
        raise error(f"{what} must be numbers, got the string {short(value)}")
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise error(f"{what} cannot be read as an array of numbers: {one_line(str(exc), MAX_QUOTE)}") from None
    kind = arr.dtype.kind
    if kind == "O":
        flat = arr.reshape(-1)
        for x in flat[: 10**6].tolist() if arr.size <= 10**6 else flat.tolist():
            if not isinstance(x, numbers.Real) or isinstance(x, (bool, np.bool_)):
                if isinstance(x, numbers.Complex):
                    raise error(f"{what} has complex values (e.g. {short(x)}); parameters must be real")
                raise error(f"{what} must hold numbers only, got {_what_type(x)} ({type(x).__name__})")
        try:
            return np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise error(f"{what} cannot be read as numbers: {one_line(str(exc), MAX_QUOTE)}") from None
    if kind == "c":
        bad = arr.reshape(-1)[np.flatnonzero(np.imag(arr).reshape(-1) != 0)[:1]]
        example = short(complex(bad[0])) if len(bad) else "0j"
        raise error(f"{what} has complex values (e.g. {example}); parameters must be real")
    if kind in "USV":
        raise error(f"{what} cannot be read as numbers: it holds text (dtype {arr.dtype}), not numbers")
    if kind in "Mm":
        raise error(f"{what} must hold numbers, got an array of dtype {arr.dtype}")
    if kind == "b":
        raise error(f"{what} must hold numbers, got booleans")
    return np.asarray(arr, dtype=np.float64)


def real_vector_of_length(value: Any, what: str, length: int, items: str, *,
                          error: type[TopoError] = ParameterError) -> np.ndarray:
    """:func:`real_vector` of shape ``(length,)``; the message of a wrong shape says what the
    ``length`` entries are (``items``, e.g. ``"parameters"``).

    Examples
    --------
    >>> real_vector_of_length([1.0, 2.0], "c", 3, "constrained nodes")
    Traceback (most recent call last):
    ...
    topo.errors.ParameterError: c has shape (2,) but the architecture has 3 constrained nodes (expected shape (3,))
    """
    vec = real_vector(value, what, error=error)
    if vec.shape != (length,):
        raise error(f"{what} has shape {vec.shape} but the architecture has {length} {items} "
                    f"(expected shape ({length},))")
    return vec


def first_non_finite(vec: np.ndarray) -> int | None:
    """Position of the first NaN or infinity of ``vec``, None when every entry is finite.

    Examples
    --------
    >>> first_non_finite(np.array([1.0, np.inf, np.nan])), first_non_finite(np.zeros(3))
    (1, None)
    """
    bad = ~np.isfinite(vec)
    return int(np.argmax(bad)) if bad.any() else None
