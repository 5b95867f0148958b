"""Checks shared by every entry point (spec files, the CLI, ``Architecture`` constructors,
parameter and balance vectors): types, ranges and sizes, tested *before* any work.

The rules, applied everywhere the same way:

- **Strings are not booleans** and **booleans are not numbers**: ``trainable: 'false'``
  and ``size: true`` are refused, not read as ``True`` and ``1``.
- **Floats are not integers**: a count (a width, an edge size, a node index) must be an
  integer, or a float holding a whole number (``8.0``); ``2.7`` is refused, never truncated.
- **Sizes have upper bounds** (`LIMITS`): a request above them is refused with a
  message naming the limit and how to raise it, before anything is allocated.
- **Messages quote at most** ``MAX_QUOTE`` **characters of a value** ([`topo.utils.text`][topo.utils.text]),
  on one line, whatever the value (a huge string, a deep list, a control character).
- **Public functions declare their arguments** with [`validate_params`][topo.utils.validation.validate_params] (the
  model is scikit-learn's ``validate_params``): constraint objects such as [`Interval`][topo.utils.validation.Interval],
  [`Options`][topo.utils.validation.Options], [`Boolean`][topo.utils.validation.Boolean],
  [`Seed`][topo.utils.validation.Seed] and [`NoneOr`][topo.utils.validation.NoneOr] are checked once, on entry, and a
  refused argument is a [`ParameterError`][topo.errors.ParameterError] naming the function, the argument, what is
  expected and what was given.

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

import contextlib
import functools
import inspect
import math
import numbers
import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from topo.errors import GraphError, ParameterError, TopoError
from topo.utils.text import MAX_QUOTE, one_line, short

__all__ = ["Limits", "LIMITS", "check_count", "check_bool", "check_name", "check_size_budget",
           "real_vector", "real_vector_of_length", "first_non_finite", "available_memory", "check_memory",
           "check_parameter_memory", "Constraint", "Interval", "Options", "Boolean", "Seed", "InstanceOf",
           "IsCallable", "PathLike", "SequenceOf", "AnyOf", "NoneOr", "validate_params", "TOLERANCE", "POSITIVE",
           "COUNT", "COUNT_OR_ZERO", "BOOLEAN", "SEED", "PATH", "NAME"]


@dataclass
class Limits:
    """Upper bounds checked before any work (change them on `LIMITS`).

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
    max_memory : int or None
        Bytes that arrays of parameter size (a random initialisation, the vectors of an
        audit) may take; None (the default): the memory available when they are
        allocated (``MemAvailable``, lowered by an address-space limit such as
        ``ulimit -v``).  See [`check_memory`][topo.utils.validation.check_memory].
    """

    max_nodes: int = 20_000_000
    max_edges: int = 200_000_000
    max_params: int = 2_000_000_000
    max_spec_bytes: int = 256 * 2**20
    max_samples: int = 100_000
    max_memory: int | None = None


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


def available_memory() -> int | None:
    """Bytes this process can still allocate: `LIMITS` ``.max_memory`` when set, else
    the ``MemAvailable`` of ``/proc/meminfo`` (the free physical pages elsewhere), lowered by
    what the address-space limit (``ulimit -v``) leaves; None when nothing is known.

    Examples
    --------
    >>> available_memory() is None or available_memory() > 0
    True
    """
    if LIMITS.max_memory is not None:
        return int(LIMITS.max_memory)
    free = None
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", "rb") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            free = max(soft - used, 0) if free is None else min(free, max(soft - used, 0))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return free


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**27 else f"{n_bytes / 2**20:.1f} MiB"


def check_memory(n_bytes: int, what: str, *, error: type[TopoError] = GraphError) -> None:
    """Refuse, before allocating, work that needs more than
    [`available_memory`][topo.utils.validation.available_memory].

    ``what`` says what needs the memory (it starts the message).

    Examples
    --------
    >>> LIMITS.max_memory = 2**30
    >>> check_memory(8 * 10**9, "a vector of 10^9 parameters")
    Traceback (most recent call last):
    ...
    topo.errors.GraphError: a vector of 10^9 parameters needs about 7.5 GiB of memory; only 1.0 GiB is available (topo.LIMITS.max_memory)
    >>> LIMITS.max_memory = None
    """
    free = available_memory()
    if free is not None and n_bytes > free:
        source = "topo.LIMITS.max_memory" if LIMITS.max_memory is not None else "the free memory of this machine"
        raise error(f"{what} needs about {_gib(n_bytes)} of memory; only {_gib(free)} is available ({source})")


def check_parameter_memory(arch: Any, bytes_per_parameter: int, doing: str, *, rows: int = 1,
                           error: type[TopoError] = GraphError) -> None:
    """Refuse, before allocating, ``doing`` on an architecture when ``rows`` times
    ``bytes_per_parameter`` bytes per parameter do not fit in
    [`available_memory`][topo.utils.validation.available_memory]; the message names the network's largest edge.

    Examples
    --------
    >>> import topo
    >>> arch = topo.Architecture.from_edges([("x", "h", {"size": 10**8}), ("h", "y")])
    >>> LIMITS.max_memory = 2**30
    >>> check_parameter_memory(arch, 48, "a random initialisation")
    Traceback (most recent call last):
    ...
    topo.errors.GraphError: a random initialisation of 100000001 parameters (edge ('x', 'h') alone has 100000000 weights) needs about 4.5 GiB of memory; only 1.0 GiB is available (topo.LIMITS.max_memory)
    >>> LIMITS.max_memory = None
    """
    n_bytes = rows * arch.n_params * bytes_per_parameter
    if n_bytes < 2**26:  # 64 MiB: not worth reading /proc
        return
    free = available_memory()
    if free is None or n_bytes <= free:
        return
    e = int(np.argmax(arch.edge_sizes))
    edge, k = arch.edge_names([e])[0], int(arch.edge_sizes[e])
    largest = f" (edge {short(edge)} alone has {k} weights)" if k > 1 else ""
    check_memory(n_bytes, f"{doing} of {arch.n_params} parameters{largest}", error=error)


def check_size_budget(n_nodes: int, n_edges: int, n_params: int | None = None, *, what: str = "network",
                      error: type[TopoError] = GraphError) -> None:
    """Refuse a network above `LIMITS`, before it is built.

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
    """[`real_vector`][topo.utils.validation.real_vector] of shape ``(length,)``; the message of a wrong shape says what
    the ``length`` entries are (``items``, e.g. ``"parameters"``).

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

    A finite sum proves every entry finite (a NaN or an infinity makes any sum NaN or infinite), so
    the common case is one pass without a temporary; only a non-finite sum (a bad entry, or finite
    entries whose sum overflows) looks for the position.

    Examples
    --------
    >>> first_non_finite(np.array([1.0, np.inf, np.nan])), first_non_finite(np.zeros(3))
    (1, None)
    >>> first_non_finite(np.array([1e308, 1e308]))     # the sum overflows, the entries are finite
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(vec)):
            return None
    bad = ~np.isfinite(vec)
    return int(np.argmax(bad)) if bad.any() else None


# ----------------------------------------------------------------------------- declared constraints
def _is_number(value: Any) -> bool:
    """A real number that is not a boolean (ints, floats, their numpy kinds)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _is_whole(value: Any) -> bool:
    """An integer, or a finite float holding a whole number (``8.0``); never a boolean."""
    if not _is_number(value):
        return False
    return isinstance(value, (int, np.integer)) or (math.isfinite(value) and float(value).is_integer())


def _same(a: Any, b: Any) -> bool:
    """``a == b`` for option values, without ``True == 1`` or ``1 == 1.0`` across types."""
    if (type(a) is bool) != (type(b) is bool) or isinstance(a, str) != isinstance(b, str):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. an array, whose == is elementwise
        return False


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


_MAX_FLOAT = float(np.finfo(np.float64).max)

#: Values tried against every constraint by `Constraint.bad_values` (those it refuses).
_USUAL_SUSPECTS = (None, "oops", "1", -1, 0, 2.5, float("nan"), float("inf"), -float("inf"), True, [1], object())


class Constraint:
    """A rule one argument of a public function must follow (see
    [`validate_params`][topo.utils.validation.validate_params]).

    Subclasses define `accepts` and [`describe`][topo.utils.validation.Constraint.describe]; `convert` may give the
    value the function receives (``8.0`` becomes ``8`` for a count), and
    [`bad_values`][topo.utils.validation.Constraint.bad_values] lists values the rule refuses, so that tests can try
    them all.
    """

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        """What is expected, e.g. ``"an integer >= 1"`` (completes "x must be ...")."""
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        return value

    def expected(self, value: Any) -> str:
        """What is expected, told to a caller who gave ``value`` (by default
        [`describe`][topo.utils.validation.Constraint.describe])."""
        return self.describe()

    def message(self, name: str, value: Any) -> str:
        return f"{name} must be {self.expected(value)}, got {_what_type(value)}"

    def candidates(self) -> tuple:
        """Values near the edges of the rule (tried by [`bad_values`][topo.utils.validation.Constraint.bad_values]
        besides the usual ones)."""
        return ()

    def bad_values(self) -> list:
        """Values this rule refuses: its [`candidates`][topo.utils.validation.Constraint.candidates] and a fixed list of
        usual suspects (None, strings, negative, fractional, NaN, infinite, boolean, list, object)."""
        out, seen = [], set()
        for v in (*self.candidates(), *_USUAL_SUSPECTS):
            key = (type(v), repr(v))
            if key not in seen and not self.accepts(v):
                seen.add(key)
                out.append(v)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"


class Interval(Constraint):
    """A number of ``kind`` (``int`` or ``float``) between ``low`` and ``high``.

    ``closed`` says which ends belong to the interval (``"both"``, ``"left"``,
    ``"right"``, ``"neither"``); ``None`` is an open end.  ``high`` may name a field of
    `LIMITS` (``"max_samples"``), read when the check runs.  Booleans, strings, NaN
    and (unless ``finite=False``) infinities are refused; an ``int`` interval accepts a
    float holding a whole number and passes it on as an ``int``.

    Examples
    --------
    >>> Interval(int, 1).describe(), Interval(float, 0, 1, closed="neither").describe()
    ('an integer >= 1', 'a finite number in (0, 1)')
    >>> Interval(int, 1).accepts(2.5), Interval(int, 1).convert(8.0)
    (False, 8)
    >>> Interval(int, 2, "max_samples").describe()
    'an integer in [2, 100000] (topo.LIMITS.max_samples)'
    >>> Interval(float, 0).bad_values()[:6]
    [-0.5, None, 'oops', '1', -1, nan]
    """

    def __init__(self, kind: type, low: float | None = None, high: float | str | None = None, *,
                 closed: str = "both", finite: bool = True):
        self.kind, self.low, self._high, self.closed, self.finite = kind, low, high, closed, finite
        self._low_open = closed in ("right", "neither")
        self._high_open = closed in ("left", "neither")

    @property
    def high(self) -> float | None:
        return getattr(LIMITS, self._high) if isinstance(self._high, str) else self._high

    def accepts(self, value: Any) -> bool:
        t = type(value)
        if t is float or (t is not int and isinstance(value, np.floating)):
            if value != value or (self.finite and not math.isfinite(value)) or \
                    (self.kind is int and not (math.isfinite(value) and float(value).is_integer())):
                return False
        elif t is not int and not (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))):
            return False
        elif self.kind is not int and abs(value) > _MAX_FLOAT:  # an int that no float can hold
            return False
        low, high = self.low, self._high if not isinstance(self._high, str) else getattr(LIMITS, self._high)
        if low is not None and (value < low or (self._low_open and value == low)):
            return False
        return high is None or not (value > high or (self._high_open and value == high))

    def convert(self, value: Any) -> Any:
        return int(value) if self.kind is int and type(value) is not int else value

    def describe(self) -> str:
        what = "an integer" if self.kind is int else ("a finite number" if self.finite else "a number")
        low, high = self.low, self.high
        if low is not None and high is not None:
            text = f"{what} in {'(' if self._low_open else '['}{low}, {high}{')' if self._high_open else ']'}"
        elif low is not None:
            text = f"{what} {'>' if self._low_open else '>='} {low}"
        elif high is not None:
            text = f"{what} {'<' if self._high_open else '<='} {high}"
        else:
            text = what
        return text + (f" (topo.LIMITS.{self._high})" if isinstance(self._high, str) else "")

    def candidates(self) -> tuple:
        low, high, step = self.low, self.high, 1 if self.kind is int else 0.5
        out = []
        if low is not None:
            out.append(low if self._low_open else low - step)
        if high is not None:
            out.append(high if self._high_open else high + step)
        return tuple(out)


class Options(Constraint):
    """One of the given values (``Options("auto", "neuron", "channel")``).

    ``unknown`` names what the value is (``"loss"``) for the message
    ``unknown loss 'x'; expected 'mse', 'bce' or 'ce'``.

    Examples
    --------
    >>> level = Options("auto", "neuron", "channel")
    >>> level.accepts("neuron"), level.message("level", "layer")
    (True, "level must be 'auto', 'neuron' or 'channel', got the string 'layer'")
    >>> Options("mse", "ce", unknown="loss").message("loss", "l2")
    "unknown loss 'l2'; expected 'mse' or 'ce'"
    >>> Options(0).accepts(False)
    False
    """

    def __init__(self, *values: Any, unknown: str | None = None):
        self.values, self.unknown = values, unknown

    def accepts(self, value: Any) -> bool:
        return any(_same(value, v) for v in self.values)

    def describe(self) -> str:
        return _or_list([repr(v) for v in self.values])

    def message(self, name: str, value: Any) -> str:
        if self.unknown is None:
            return super().message(name, value)
        of = "" if name in self.unknown else f" for {name}"  # "unknown init scheme 'he' for init"
        return f"unknown {self.unknown} {short(value)}{of}; expected {self.describe()}"

    def candidates(self) -> tuple:
        return ("no-such-option",) + tuple(v.upper() for v in self.values if isinstance(v, str))


class Boolean(Constraint):
    """``True`` or ``False`` (numpy booleans too); never ``1``, ``"false"`` or None.

    Examples
    --------
    >>> Boolean().accepts(np.False_), Boolean().message("fit", "no")
    (True, "fit must be true or false (a boolean), got the string 'no'")
    """

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def convert(self, value: Any) -> Any:
        return bool(value)

    def describe(self) -> str:
        return "true or false (a boolean)"

    def candidates(self) -> tuple:
        return (1, "false")


class Seed(Constraint):
    """A random seed: None, an integer >= 0 (a whole float is passed on as ``int``), a
    ``numpy.random.Generator`` or a ``numpy.random.SeedSequence``.

    Examples
    --------
    >>> Seed().accepts(np.random.default_rng(0)), Seed().convert(3.0)
    (True, 3)
    >>> Seed().message("seed", -1)
    'seed must be >= 0 (None, an integer >= 0 or a numpy Generator), got -1'
    """

    _count = Interval(int, 0)

    def accepts(self, value: Any) -> bool:
        return value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence)) \
            or self._count.accepts(value)

    def convert(self, value: Any) -> Any:
        return self._count.convert(value) if _is_number(value) else value

    def describe(self) -> str:
        return "None, an integer >= 0 or a numpy Generator"

    def expected(self, value: Any) -> str:
        if _is_number(value) and value == value:
            return (">= 0" if _is_whole(value) else "a whole number") + f" ({self.describe()})"
        return self.describe()


class InstanceOf(Constraint):
    """An instance of one of ``types``; ``name`` is how the message calls it.

    Examples
    --------
    >>> InstanceOf(str, name="a string").message("name", 3)
    'name must be a string, got 3'
    """

    def __init__(self, *types: type, name: str | None = None):
        self.types = types
        self.name = name or _or_list([f"a {t.__name__}" for t in types])

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def describe(self) -> str:
        return self.name


class IsCallable(Constraint):
    """Something callable (a function, a bound method, an object with ``__call__``)."""

    def accepts(self, value: Any) -> bool:
        return callable(value)

    def describe(self) -> str:
        return "a callable"


class PathLike(Constraint):
    """A file or folder name: a non-empty ``str`` or an ``os.PathLike``."""

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, str) and value.strip() != "") or hasattr(value, "__fspath__")

    def describe(self) -> str:
        return "a path (a non-empty str or an os.PathLike)"

    def candidates(self) -> tuple:
        return ("", b"report")


class SequenceOf(Constraint):
    """A list, tuple or set (not a string) of at least ``min_length`` items, each accepted by ``item``.

    Examples
    --------
    >>> formats = SequenceOf(Options("json", "md"))
    >>> formats.accepts(("json",)), formats.accepts("json"), formats.accepts([])
    (True, False, False)
    >>> formats.describe()
    "a list or tuple of 'json' or 'md'"
    """

    def __init__(self, item: Constraint, *, min_length: int = 1):
        self.item, self.min_length = item, min_length

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (list, tuple, set, frozenset)) and len(value) >= self.min_length \
            and all(self.item.accepts(v) for v in value)

    def convert(self, value: Any) -> Any:
        out = [self.item.convert(v) for v in value]
        return value if all(a is b for a, b in zip(out, value)) else type(value)(out)

    def describe(self) -> str:
        return f"a list or tuple of {self.item.describe()}"  # (a set is accepted too)

    def candidates(self) -> tuple:
        out = [list(self.item.bad_values()[:1])]  # a list holding one refused item
        return (*out, []) if self.min_length else tuple(out)


class AnyOf(Constraint):
    """Accepted by at least one of ``constraints`` (plain values stand for [`Options`][topo.utils.validation.Options]).

    ``lead`` starts the description (``"an integer >= 0"``) before the alternatives.

    Examples
    --------
    >>> sample = AnyOf(0, Interval(int, 2, 10), lead="an integer >= 0")
    >>> sample.accepts(0), sample.accepts(1), sample.accepts(5)
    (True, False, True)
    >>> sample.describe()
    'an integer >= 0: 0 or an integer in [2, 10]'
    """

    def __init__(self, *constraints: Any, lead: str | None = None):
        self.constraints = tuple(c if isinstance(c, Constraint) else Options(c) for c in constraints)
        self.lead = lead

    def accepts(self, value: Any) -> bool:
        return any(c.accepts(value) for c in self.constraints)

    def convert(self, value: Any) -> Any:
        return next(c.convert(value) for c in self.constraints if c.accepts(value))

    def describe(self) -> str:
        text = _or_list([c.describe() for c in self.constraints])
        return f"{self.lead}: {text}" if self.lead else text

    def candidates(self) -> tuple:
        return tuple(v for c in self.constraints for v in c.candidates())


class NoneOr(AnyOf):
    """``None`` or a value accepted by ``constraint`` (an optional argument).

    Examples
    --------
    >>> tol = NoneOr(Interval(float, 0))
    >>> tol.accepts(None), tol.accepts(-1.0), tol.describe()
    (True, False, 'None or a finite number >= 0')
    >>> tol.message("tol", -1.0)
    'tol must be a finite number >= 0 (or None), got -1.0'

    """

    def __init__(self, constraint: Constraint):
        super().__init__(None, constraint)
        self.inner = constraint

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)

    def convert(self, value: Any) -> Any:
        return value if value is None else self.inner.convert(value)

    def expected(self, value: Any) -> str:
        return f"{self.inner.expected(value)} (or None)"


def validate_params(*, error: type[TopoError] = ParameterError, **constraints: Constraint) -> Callable:
    """Decorator: check the named arguments of a public function once, on entry.

    ``constraints`` maps parameter names to [`Constraint`][topo.utils.validation.Constraint] objects.  The signature is
    read once, when the function is decorated; a call looks each constrained argument up
    by position or keyword (defaults are not checked), raises ``error`` (a
    [`ParameterError`][topo.errors.ParameterError] by default) naming the function, the argument,
    what is expected and what was given, and passes converted values on (``8.0`` as
    ``8`` for a count).  ``functools.wraps`` keeps the name, docstring and signature;
    the constraints are kept on the wrapper as ``parameter_constraints``.

    Examples
    --------
    >>> @validate_params(n=Interval(int, 1), method=Options("exact", "sampled"))
    ... def count(n, *, method="exact"):
    ...     return n, method
    >>> count(8.0)
    (8, 'exact')
    >>> count(0)
    Traceback (most recent call last):
    ...
    topo.errors.ParameterError: count: n must be an integer >= 1, got 0
    >>> count(2, method="guess")
    Traceback (most recent call last):
    ...
    topo.errors.ParameterError: count: method must be 'exact' or 'sampled', got the string 'guess'
    >>> sorted(count.parameter_constraints)
    ['method', 'n']
    """

    def decorate(func: Callable) -> Callable:
        signature = inspect.signature(func)
        slots = []
        for name, constraint in constraints.items():
            param = signature.parameters.get(name)
            if param is None or not isinstance(constraint, Constraint):
                raise LookupError(f"validate_params: {func.__qualname__} has no parameter {name!r} "
                                  f"or {constraint!r} is not a Constraint")
            positional = param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
            index = list(signature.parameters).index(name) if positional else None
            slots.append((name, index, constraint))
        where = func.__qualname__

        @functools.wraps(func)
        def checked(*args, **kwargs):
            for name, index, constraint in slots:
                if index is not None and index < len(args):
                    value = args[index]
                elif name in kwargs:
                    value = kwargs[name]
                else:
                    continue
                if not constraint.accepts(value):
                    raise error(f"{where}: {constraint.message(name, value)}")
                new = constraint.convert(value)
                if new is not value:
                    if index is not None and index < len(args):
                        args = (*args[:index], new, *args[index + 1:])
                    else:
                        kwargs[name] = new
            return func(*args, **kwargs)

        checked.parameter_constraints = dict(constraints)
        return checked

    return decorate


#: Constraints shared by many functions (constraint objects hold no state).
TOLERANCE = Interval(float, 0)
POSITIVE = Interval(float, 0, closed="right")
COUNT = Interval(int, 1)
COUNT_OR_ZERO = Interval(int, 0)
BOOLEAN = Boolean()
SEED = Seed()
PATH = PathLike()
NAME = InstanceOf(str, name="a string")
