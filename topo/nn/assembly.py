"""Assembling the result of the torch import (output copies, pruning of units on no path to an
output, renumbering, `topo.nn.result.TorchImport`); a mixin of `topo.nn.handlers.Importer`."""

from __future__ import annotations

import numpy as np

from topo.graph.architecture import Architecture
from topo.nn.result import EdgeSources, TorchImport
from topo.utils.arrays import chunks


class Assembly:
    """The architecture, weights and edge sources from the accumulated units and edges."""

    def result(self, level: str) -> TorchImport:
        b = self.b
        outputs = self._output_units()
        src, dst = np.concatenate(b.src, dtype=np.int64), np.concatenate(b.dst, dtype=np.int64)
        counts = np.asarray(b.counts, dtype=np.int64)
        sizes = np.repeat(np.asarray(b.sizes, dtype=np.int64), counts)
        trainable = np.repeat(np.asarray(b.trainable, dtype=bool), counts)
        theta = np.concatenate(b.weights, dtype=np.float64)
        b.src = b.dst = b.weights = None  # peak memory: one copy of each array
        keep_node, keep_edge = self._reaching_outputs(src, dst, outputs)
        # sources first, then the units in creation order (a topological order: a unit is made after its inputs)
        source = np.zeros(len(b.nodes), dtype=bool)
        source[list(b.roles)] = True
        kept = np.concatenate([np.flatnonzero(keep_node & source), np.flatnonzero(keep_node & ~source)])
        new = np.full(len(b.nodes), -1, dtype=np.int64)
        new[kept] = np.arange(len(kept))
        names = [b.nodes[i] for i in kept.tolist()]
        roles = {b.nodes[i]: r for i, r in b.roles.items() if keep_node[i]}
        roles.update((b.nodes[i], "output") for i in outputs.tolist())
        acts = {b.nodes[i]: b.acts[i] for i in kept.tolist() if b.roles.get(i) not in ("input", "bias")}
        if not keep_edge.all():
            theta = theta[np.repeat(keep_edge, sizes)]
            src, dst, sizes, trainable = src[keep_edge], dst[keep_edge], sizes[keep_edge], trainable[keep_edge]
        if not np.array_equal(kept, np.arange(len(b.nodes))):
            _relabel(src, new)
            _relabel(dst, new)
        reasons = {b.nodes[i]: r for i, r in b.reasons.items() if keep_node[i]}
        # the import's precise reason (which operation made a unit free) replaces the generic one
        arch = Architecture.from_arrays(src, dst, nodes=names, sizes=sizes, trainable=trainable,
                                        roles=roles, activations=acts, free_reasons=reasons, copy=False)
        return TorchImport(arch, theta, EdgeSources(arch, self._blocks(keep_edge)), self.unsupported, level,
                           reasons)

    def _output_units(self) -> np.ndarray:
        """The model's output units; those also read by other units (or inputs) get copies by fixed edges."""
        b = self.b
        outputs = np.unique(np.concatenate(self.outputs))
        has_out = np.zeros(len(b.nodes), dtype=bool)
        for s in b.src:
            has_out[s] = True
        bad = outputs[has_out[outputs] | np.isin(outputs, list(b.roles))]
        if len(bad):
            copies = b.units("output", len(bad))
            b.fixed(bad, copies)
            outputs = np.concatenate([np.setdiff1d(outputs, bad), copies])
        return outputs

    def _reaching_outputs(self, src, dst, outputs) -> tuple[np.ndarray, np.ndarray]:
        """Units (and edges) on a path to an output; inputs are kept whatever they feed."""
        n = len(self.b.nodes)
        protected = np.zeros(n, dtype=bool)
        protected[outputs] = True
        protected[[i for i, r in self.b.roles.items() if r == "input"]] = True
        alive = np.ones(n, dtype=bool)
        keep_edge = None  # all edges, until a round drops some
        while True:  # drop sinks that are not outputs, until none is left (usually no round at all)
            outdeg = np.bincount(src if keep_edge is None else src[keep_edge], minlength=n)
            dead = alive & (outdeg == 0) & ~protected
            if not dead.any():
                return alive, np.ones(len(src), dtype=bool) if keep_edge is None else keep_edge
            alive &= ~dead
            keep_edge = alive[dst] if keep_edge is None else keep_edge & alive[dst]

    def _blocks(self, keep_edge: np.ndarray) -> list:
        every = bool(keep_edge.all())  # usually: then the positions do not move
        # the kept edges before each position (an int64 cumsum: numpy's default for booleans is ~7x slower)
        pos = None if every else np.concatenate([[0], np.cumsum(keep_edge, dtype=np.int64)])
        out = []
        for start, stop, *rest in sorted(self.b.blocks, key=lambda blk: blk[0]):
            a, z = (int(start), int(stop)) if every else (int(pos[start]), int(pos[stop]))
            if z == a:
                continue
            offs = None if z - a == stop - start else np.flatnonzero(keep_edge[start:stop])
            out.append((a, z, *rest, offs))
        return out


def _relabel(ids: np.ndarray, new: np.ndarray) -> None:
    """``ids[:] = new[ids]`` in place, by chunks (no second array as long as the edges)."""
    for s in chunks(len(ids)):
        ids[s] = new[ids[s]]
