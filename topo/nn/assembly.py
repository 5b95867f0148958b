"""Assembling the result of the torch import (output copies, pruning of units on no path to an
output, renumbering, `topo.nn.result.TorchImport`); a mixin of `topo.nn.handlers.Importer`."""

from __future__ import annotations

import numpy as np

from topo.graph.architecture import Architecture
from topo.nn.result import EdgeSources, TorchImport
from topo.nn.units import distinct
from topo.utils.arrays import chunks


class Assembly:
    """The architecture, weights and edge sources from the accumulated units and edges."""

    def result(self, level: str) -> TorchImport:
        b = self.b
        outputs = self._output_units()
        keep_node, keep_edge = self._reaching_outputs(outputs)
        # sources first, then the units in creation order (a topological order: a unit is made after its inputs)
        # ... and the outputs last, in the order the model returns them (sinks: any order of them is topological)
        source = np.zeros(len(b.nodes), dtype=bool)
        source[list(b.roles)] = True
        is_output = np.zeros(len(b.nodes), dtype=bool)
        is_output[outputs] = True
        kept = np.concatenate([np.flatnonzero(keep_node & source), np.flatnonzero(keep_node & ~source & ~is_output),
                               outputs])
        new = np.full(len(b.nodes), -1, dtype=np.int64)
        new[kept] = np.arange(len(kept))
        names = [b.nodes[i] for i in kept.tolist()]
        roles = {b.nodes[i]: r for i, r in b.roles.items() if keep_node[i]}
        roles.update((b.nodes[i], "output") for i in outputs.tolist())
        acts = {b.nodes[i]: b.acts[i] for i in kept.tolist() if b.roles.get(i) not in ("input", "bias")}
        counts = np.asarray(b.counts, dtype=np.int64)
        sizes = np.repeat(np.asarray(b.sizes, dtype=np.int64), counts)
        trainable = np.repeat(np.asarray(b.trainable, dtype=bool), counts)
        src, dst, theta = self._write_edges(new if keep_edge is None else None)  # each final array once
        if keep_edge is not None:  # rare: units on no path to an output were dropped
            theta = theta[np.repeat(keep_edge, sizes)]
            src, dst, sizes, trainable = src[keep_edge], dst[keep_edge], sizes[keep_edge], trainable[keep_edge]
            _relabel(src, new)
            _relabel(dst, new)
        reasons = {b.nodes[i]: r for i, r in b.reasons.items() if keep_node[i]}
        # the import's precise reason (which operation made a unit free) replaces the generic one
        arch = Architecture.from_arrays(src, dst, nodes=names, sizes=sizes, trainable=trainable,
                                        roles=roles, activations=acts, free_reasons=reasons, copy=False)
        return TorchImport(arch, theta, EdgeSources(arch, self._blocks(keep_edge)), self.unsupported, level,
                           reasons)

    def _write_edges(self, new: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The edge ends (relabelled by ``new`` unless None) and the flat float64 weights, each written
        once into its final array from the batches' views (a layer's edges are broadcast views, its
        weights the model's own memory, scaled by its folded BatchNorms on the way)."""
        b = self.b
        n_edges = int(sum(b.counts))
        src, dst = np.empty(n_edges, dtype=np.int64), np.empty(n_edges, dtype=np.int64)
        theta = np.empty(int(np.dot(b.counts, b.sizes)) if b.counts else 0, dtype=np.float64)
        e = o = 0
        for i, (u, v, w) in enumerate(zip(b.src, b.dst, b.weights)):
            n = u.size
            for ends, out in ((u, src), (v, dst)):
                core = distinct(ends)[0]
                out[e:e + n].reshape(ends.shape)[...] = core if new is None else new[core]
            t = theta[o:o + w.size]
            scale = b.scales.get(i)
            if scale is not None:
                rows = t.reshape(len(scale), -1)
                np.multiply(w.reshape(rows.shape), scale[:, None], out=rows)
            else:
                t.reshape(w.shape)[...] = w
            b.src[i] = b.dst[i] = b.weights[i] = None  # peak memory: the batch's own arrays go as they are copied
            e, o = e + n, o + w.size
        return src, dst, theta

    def _output_units(self) -> np.ndarray:
        """The model's output units in the order it returns them (each once, where it first appears:
        tuples, lists and dicts are read in order); those also read by other units (or inputs) get
        copies by fixed edges, in their place."""
        b = self.b
        flat = np.concatenate(self.outputs)
        outputs = flat[np.sort(np.unique(flat, return_index=True)[1])]
        has_out = np.zeros(len(b.nodes), dtype=bool)
        for s in b.src:
            has_out[distinct(s)[0]] = True
        bad = has_out[outputs] | np.isin(outputs, list(b.roles))
        if bad.any():
            copies = b.units("output", int(bad.sum()))
            b.fixed(outputs[bad], copies)
            outputs[bad] = copies
        return outputs

    def _reaching_outputs(self, outputs) -> tuple[np.ndarray, np.ndarray | None]:
        """Units (and edges; None: every edge) on a path to an output; inputs are kept whatever they feed.

        The first round counts each unit's leaving edges from the batches' distinct entries; only when it
        finds units to drop (sinks that are not outputs) are the edge ends written out for the next rounds.
        """
        b = self.b
        n = len(b.nodes)
        protected = np.zeros(n, dtype=bool)
        protected[outputs] = True
        protected[[i for i, r in b.roles.items() if r == "input"]] = True
        cores = [distinct(s) for s in b.src]
        heads = np.concatenate([c.reshape(-1) for c, _ in cores] or [np.zeros(0, np.int64)])
        repeats = np.repeat(np.asarray([k for _, k in cores], dtype=np.float64), [c.size for c, _ in cores])
        if not (~protected & (np.bincount(heads, weights=repeats, minlength=n) == 0)).any():
            return np.ones(n, dtype=bool), None
        src, dst = (np.concatenate([a.reshape(-1) for a in ends]) for ends in (b.src, b.dst))
        alive = np.ones(n, dtype=bool)
        keep_edge = np.ones(len(src), dtype=bool)
        while True:  # drop sinks that are not outputs, until none is left
            outdeg = np.bincount(src[keep_edge], minlength=n)
            dead = alive & (outdeg == 0) & ~protected
            if not dead.any():
                return alive, keep_edge
            alive &= ~dead
            keep_edge &= alive[dst]

    def _blocks(self, keep_edge: np.ndarray | None) -> list:
        every = keep_edge is None or bool(keep_edge.all())  # usually: then the positions do not move
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
