"""The audit report's schema: its version, listing limits, and how units are grouped by layer.

The report is one JSON-serialisable dictionary (documented in ``docs/report.md``),
built by [`topo.report.build.audit_report`][topo.report.build.audit_report] and rendered by the other modules of
`topo.report`; this module holds what they all agree on.

Examples
--------
>>> from topo.report.schema import SCHEMA_VERSION, layer_key
>>> SCHEMA_VERSION, layer_key("layer1.0.conv1.17")
(1, 'layer1.0.conv1')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["SCHEMA_VERSION", "MAX_LISTED", "layer_key", "layer_keys"]

#: Version of the report dictionary (``report["schema_version"]``).
SCHEMA_VERSION = 1
#: Default of ``max_listed``: at most this many frozen edges, balances and free units are listed.
MAX_LISTED = 200


def layer_key(name: Any) -> str:
    """The layer of a unit: its name without a trailing index (``"layer1.0.conv1.17"`` → ``"layer1.0.conv1"``)."""
    s = str(name)
    t = s.rstrip("0123456789")  # string methods: ~10x the regex's speed on 50k units
    if len(t) < len(s) and t[-1:] in (".", "_"):
        t = t[:-1]
    return t or s


def layer_keys(names: Sequence) -> np.ndarray:
    """`layer_key` of every name at once (numpy's string functions: one pass, not a call per unit).

    Examples
    --------
    >>> layer_keys(["layer1.0.conv1.17", "fc_3", "x", "7", "a.b"]).tolist()
    ['layer1.0.conv1', 'fc', 'x', '7', 'a.b']
    """
    s = np.array([str(v) for v in names], dtype=str) if len(names) else np.zeros(0, dtype="<U1")
    t = np.strings.rstrip(s, "0123456789")
    n_t, n_s = np.strings.str_len(t), np.strings.str_len(s)
    cut = (n_t < n_s) & (np.strings.endswith(t, ".") | np.strings.endswith(t, "_"))
    t = np.where(cut, np.strings.slice(t, 0, np.maximum(n_t - 1, 0)), t)
    return np.where(np.strings.str_len(t) > 0, t, s)
