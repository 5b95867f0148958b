"""Malformed and hostile inputs (issue 11): each one ends with exit code 2 (or the right
TopoError), a one-line message naming the problem, no traceback, no partial report and no
leftover temporary file; valid-but-unusual inputs still work.

The CLI runs in-process (``topo.cli.main``) so that the ~200 cases stay fast; a few run as
real subprocesses to check the exit code and the absence of a traceback end to end.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

import topo
from topo.cli import main
from topo.errors import GraphError, ParameterError, SpecError, TopoError
from topo.report import audit, read_report_set
from topo.utils.validation import LIMITS


def _assert_one_line_error(rc: int, err: str, match: str) -> None:
    assert rc == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert "Traceback" not in err
    assert "\x1b" not in err and "\r" not in err
    assert len(err) < 1200, f"message of {len(err)} characters"
    assert re.search(match, err), f"{match!r} not in {err!r}"


def _assert_nothing_written(folder) -> None:
    if folder.exists():
        assert list(folder.iterdir()) == [], sorted(p.name for p in folder.iterdir())


def _cli(capsys, argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ----------------------------------------------------------------------------- spec files
_DEEP_JSON = '{"edges": ' + "[" * 100_000 + "]" * 100_000 + "}"
_DEEP_YAML = "edges: " + "[" * 20_000 + "]" * 20_000 + "\n"
_LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    + ["name: *i", "edges: [[x, y]]"]
)
_DIGITS_5000 = "9" * 5000
_DIGITS_4000 = "9" * 4000

SPECS = [
    # (id, file name, content, expected fragment of the message)
    ("non-utf8", "a.yaml", b"\xff\xfeedges: []\n", "not UTF-8"),
    ("latin1-name", "a.yaml", b"name: caf\xe9\nedges: [[x, y]]\n", "not UTF-8"),
    ("utf8-invalid-json", "a.json", b'{"name": "\xc3\x28"}', "not UTF-8"),
    ("empty-file", "a.yaml", "", "mapping at top level, got NoneType"),
    ("top-list", "a.yaml", "[1, 2]\n", "mapping at top level, got list"),
    ("top-int", "a.yaml", "42\n", "mapping at top level, got int"),
    ("top-string", "a.yaml", "just words\n", "mapping at top level, got str"),
    ("json-top-list", "a.json", "[]", "mapping at top level"),
    ("json-null", "a.json", "null", "mapping at top level"),
    ("yaml-unclosed", "a.yaml", "edges: [x, y\n", "invalid YAML"),
    ("yaml-tab", "a.yaml", "edges:\n\t- [x, y]\n", "invalid YAML"),
    ("yaml-python-tag", "a.yaml", "edges: !!python/object:os.system [ls]\n", "invalid YAML"),
    ("yaml-python-name", "a.yaml", "edges: !!python/name:os.system ''\n", "invalid YAML"),
    ("json-unclosed", "a.json", '{"edges": [}', "invalid JSON at line 1"),
    ("json-trailing-comma", "a.json", '{"edges": [["x", "y"],]}', "invalid JSON"),
    ("json-single-quotes", "a.json", "{'edges': []}", "invalid JSON"),
    ("json-deep", "a.json", _DEEP_JSON, "nested too deeply"),
    ("yaml-deep", "a.yaml", _DEEP_YAML, "nested too deeply|invalid YAML"),
    ("billion-laughs", "a.yaml", _LAUGHS, "anchors .* not allowed"),
    ("yaml-alias", "a.yaml", "nodes: &n [x]\nedges: [[x, y]]\n", "anchors"),
    ("yaml-merge-key", "a.yaml", "base: &b {size: 2}\nedges: [[x, y, {<<: *b}]]\n", "anchors"),
    ("yaml-dup-key", "a.yaml", "edges: [[x, y]]\nedges: [[a, b]]\n", "duplicate key 'edges'"),
    ("json-dup-key", "a.json", '{"edges": [["x", "y"]], "edges": []}', "duplicate key 'edges'"),
    ("yaml-dup-attr", "a.yaml", "edges: [[x, y, {size: 1, size: 2}]]\n", "duplicate key 'size'"),
    ("unknown-top-key", "a.yaml", "edgez: [[x, y]]\n", "unknown top-level key"),
    ("int-top-key", "a.yaml", "1: 2\nedges: [[x, y]]\n", "unknown top-level key"),
    ("version-2", "a.yaml", "version: 2\nedges: [[x, y]]\n", "unsupported spec version 2"),
    ("version-string", "a.yaml", "version: '1'\nedges: [[x, y]]\n", "unsupported spec version '1'"),
    ("version-bool", "a.yaml", "version: true\nedges: [[x, y]]\n", "unsupported spec version True"),
    ("version-float", "a.yaml", "version: 1.5\nedges: [[x, y]]\n", "unsupported spec version 1.5"),
    ("name-list", "a.yaml", "name: [1, 2]\nedges: [[x, y]]\n", "'name' must be a string"),
    ("name-map", "a.yaml", "name: {a: 1}\nedges: [[x, y]]\n", "'name' must be a string"),
    ("name-null", "a.yaml", "name: null\nedges: [[x, y]]\n", "'name' must be a string"),
    ("description-int", "a.yaml", "description: 5\nedges: [[x, y]]\n", "'description' must be a string"),
    ("no-edges", "a.yaml", "name: n\n", "needs 'edges'"),
    ("edges-string", "a.yaml", "edges: x->y\n", "'edges' must be a list"),
    ("edges-map", "a.yaml", "edges: {x: y}\n", "'edges' must be a list"),
    ("edges-null", "a.yaml", "edges: null\n", "'edges' must be a list"),
    ("edges-set", "a.yaml", "edges: !!set {x, y}\n", "'edges' must be a list"),
    ("edge-bare", "a.yaml", "edges: [x]\n", "an edge must be"),
    ("edge-one", "a.yaml", "edges: [[x]]\n", "an edge must be"),
    ("edge-four", "a.yaml", "edges: [[x, y, {}, z]]\n", "an edge must be"),
    ("edge-empty", "a.yaml", "edges: [[]]\n", "an edge must be"),
    ("name-is-list", "a.yaml", "edges: [[[a], y]]\n", "node names must be strings or integers.*list"),
    ("name-is-map", "a.yaml", "edges: [[{a: 1}, y]]\n", "node names must be strings or integers.*dict"),
    ("name-is-float", "a.yaml", "edges: [[1.5, y]]\n", "node names must be strings or integers.*float"),
    ("name-is-null", "a.yaml", "edges: [[null, y]]\n", "node names must be strings or integers.*NoneType"),
    ("name-is-date", "a.yaml", "edges: [[2020-01-01, y]]\n", "node names must be strings or integers.*date"),
    ("name-is-binary", "a.yaml", "edges: [[!!binary aGk=, y]]\n", "node names must be strings or integers.*bytes"),
    ("name-is-inf", "a.yaml", "edges: [[.inf, y]]\n", "node names must be strings or integers.*float"),
    ("target-is-list", "a.yaml", "edges: [{source: x, target: [y]}]\n", "node names must be"),
    ("attrs-int", "a.yaml", "edges: [[x, y, 5]]\n", "third entry must be a mapping"),
    ("attrs-list", "a.yaml", "edges: [[x, y, [size, 2]]]\n", "third entry must be a mapping"),
    ("attrs-string", "a.yaml", "edges: [[x, y, size=2]]\n", "third entry must be a mapping"),
    ("attrs-null", "a.yaml", "edges: [[x, y, null]]\n", "third entry must be a mapping"),
    ("mapping-edge-no-target", "a.yaml", "edges: [{source: x}]\n", "needs 'source' and 'target'"),
    ("mapping-edge-no-source", "a.yaml", "edges: [{target: y}]\n", "needs 'source' and 'target'"),
    ("unknown-attr", "a.yaml", "edges: [[x, y, {colour: red}]]\n", "unknown edge attribute"),
    ("mapping-edge-unknown-attr", "a.yaml", "edges: [{source: x, target: y, w: 1}]\n", "unknown edge attribute"),
    ("size-0", "a.yaml", "edges: [[x, y, {size: 0}]]\n", "size 0"),
    ("size-neg", "a.yaml", "edges: [[x, y, {size: -3}]]\n", "size -3"),
    ("size-float", "a.yaml", "edges: [[x, y, {size: 2.5}]]\n", "whole number, got 2.5"),
    ("size-string", "a.yaml", "edges: [[x, y, {size: '4'}]]\n", "must be an integer, got the string '4'"),
    ("size-bool", "a.yaml", "edges: [[x, y, {size: true}]]\n", "must be an integer, got True"),
    ("size-list", "a.yaml", "edges: [[x, y, {size: [4]}]]\n", "must be an integer, got \\[4\\]"),
    ("size-null", "a.yaml", "edges: [[x, y, {size: null}]]\n", "must be an integer, got None"),
    ("size-inf", "a.yaml", "edges: [[x, y, {size: .inf}]]\n", "whole number, got inf"),
    ("size-nan", "a.yaml", "edges: [[x, y, {size: .nan}]]\n", "whole number, got nan"),
    ("size-5000-digits", "a.yaml", f"edges: [[x, y, {{size: {_DIGITS_5000}}}]]\n", "invalid YAML.*digits"),
    ("size-5000-digits-json", "a.json", f'{{"edges": [["x", "y", {{"size": {_DIGITS_5000}}}]]}}', "invalid JSON.*digits"),
    ("size-4000-digits", "a.yaml", f"edges: [[x, y, {{size: {_DIGITS_4000}}}]]\n", "more than 30 digits; the limit"),
    ("size-1e12", "a.yaml", "edges: [[x, y, {size: 1000000000000}]]\n", "size .* the limit is"),
    ("size-nested", "a.json", '{"edges": [["x", "y", {"size": ' + "[" * 50 + "]" * 50 + "}]]}", "must be an integer"),
    ("trainable-quoted-false", "a.yaml", "edges: [[x, y, {trainable: 'false'}]]\n", "true or false.*'false'"),
    ("trainable-no", "a.yaml", "edges: [[x, y, {trainable: no}]]\n", "true or false.*'no'"),
    ("trainable-yes", "a.yaml", "edges: [[x, y, {trainable: yes}]]\n", "true or false.*'yes'"),
    ("trainable-off", "a.yaml", "edges: [[x, y, {trainable: off}]]\n", "true or false.*'off'"),
    ("trainable-0", "a.yaml", "edges: [[x, y, {trainable: 0}]]\n", "true or false.*got 0"),
    ("trainable-null", "a.yaml", "edges: [[x, y, {trainable: null}]]\n", "true or false.*None"),
    ("trainable-json-string", "a.json", '{"edges": [["x", "y", {"trainable": "false"}]]}', "true or false"),
    ("weight-quoted", "a.yaml", "edges: [[x, y, {weight: '1.0'}]]\n", "must be numbers, got the string '1.0'"),
    ("weight-map", "a.yaml", "edges: [[x, y, {weight: {a: 1}}]]\n", "must hold numbers only"),
    ("weight-null", "a.yaml", "edges: [[x, y, {weight: null}]]\n", "must hold numbers only"),
    ("weight-bool", "a.yaml", "edges: [[x, y, {weight: true}]]\n", "booleans"),
    ("weight-list-of-strings", "a.yaml", "edges: [[x, y, {size: 2, weight: [a, b]}]]\n", "text"),
    ("weight-too-many", "a.yaml", "edges: [[x, y, {weight: [1, 2]}]]\n", "carries 1 weight"),
    ("weight-too-few", "a.yaml", "edges: [[x, y, {size: 3, weight: [1, 2]}]]\n", "carries 3 weight"),
    ("weight-ragged", "a.yaml", "edges: [[x, y, {size: 2, weight: [[1], [1, 2]]}]]\n", "cannot be read"),
    ("weight-nan", "a.yaml", "edges: [[x, y, {weight: .nan}]]\n", "non-finite value nan"),
    ("weight-inf", "a.yaml", "edges: [[x, y, {weight: -.inf}]]\n", "non-finite value -inf"),
    ("weight-json-overflow", "a.json", '{"edges": [["x", "y", {"weight": 1e400}]]}', "non-finite value inf"),
    ("weight-json-nan", "a.json", '{"edges": [["x", "y", {"weight": NaN}]]}', "non-finite value nan"),
    ("weight-mixed", "a.yaml", "edges: [[x, h, {weight: 1.0}], [h, y]]\n", "some edges have a 'weight'"),
    ("weights-short", "a.yaml", "edges: [[x, h], [h, y]]\nweights: [1.0]\n", "shape \\(1,\\)"),
    ("weights-string", "a.yaml", "edges: [[x, y]]\nweights: abc\n", "string 'abc'"),
    ("weights-missing-edge", "a.yaml", "edges: [[x, h], [h, y]]\nweights: {x -> h: 1}\n", "no value for 1 edge"),
    ("weights-bad-key", "a.yaml", "edges: [[x, y]]\nweights: {x: 1}\n", "look like 'u -> v'"),
    ("weights-int-key", "a.yaml", "edges: [[x, y]]\nweights: {1: 1}\n", "look like 'u -> v'"),
    ("weights-unknown-edge", "a.yaml", "edges: [[x, y]]\nweights: {x -> y: 1, y -> x: 2}\n", "not an edge"),
    ("weights-unknown-node", "a.yaml", "edges: [[x, y]]\nweights: {x -> q: 1}\n", "unknown node 'q'"),
    ("weights-twice", "a.yaml", "edges: [[x, y, {weight: 1}]]\nweights: [1]\n", "both on edges and in 'weights'"),
    ("weights-complex-string", "a.yaml", "edges: [[x, y]]\nweights: ['1+2j']\n", "text"),
    ("nodes-string", "a.yaml", "nodes: x\nedges: [[x, y]]\n", "'nodes' must be a list"),
    ("nodes-map", "a.yaml", "nodes: {x: input}\nedges: [[x, y]]\n", "'nodes' must be a list"),
    ("node-no-id", "a.yaml", "nodes: [{role: input}]\nedges: [[x, y]]\n", "has no 'id'"),
    ("node-unknown-key", "a.yaml", "nodes: [{id: x, colour: red}]\nedges: [[x, y]]\n", "unknown key"),
    ("node-id-list", "a.yaml", "nodes: [{id: [x]}]\nedges: [[x, y]]\n", "node names must be"),
    ("node-bare-map-in-list", "a.yaml", "nodes: [[x]]\nedges: [[x, y]]\n", "node names must be"),
    ("node-role-unknown", "a.yaml", "nodes: [{id: x, role: boss}]\nedges: [[x, y]]\n", "unknown role 'boss'"),
    ("node-role-list", "a.yaml", "nodes: [{id: x, role: [input]}]\nedges: [[x, y]]\n", "role of node 'x' must be a string"),
    ("node-role-bool", "a.yaml", "nodes: [{id: x, role: true}]\nedges: [[x, y]]\n", "role of node 'x' must be a string"),
    ("node-activation-typo", "a.yaml", "nodes: [{id: h, activation: rleu}]\nedges: [[x, h], [h, y]]\n", "unknown activation 'rleu'"),
    ("node-activation-int", "a.yaml", "nodes: [{id: h, activation: 5}]\nedges: [[x, h], [h, y]]\n", "activation of node 'h' must be a string"),
    ("node-listed-twice", "a.yaml", "nodes: [x, x]\nedges: [[x, y]]\n", "listed twice"),
    ("node-isolated", "a.yaml", "nodes: [zz]\nedges: [[x, y]]\n", "'zz' has no edges"),
    ("activation-int", "a.yaml", "activation: 5\nedges: [[x, h], [h, y]]\n", "must be a string, got 5"),
    ("activation-typo", "a.yaml", "activation: rleu\nedges: [[x, h], [h, y]]\n", "unknown activation 'rleu'"),
    ("output-activation-list", "a.yaml", "output_activation: [relu]\nedges: [[x, y]]\n", "must be a string"),
    ("cycle", "a.yaml", "edges: [[x, a], [a, b], [b, a], [b, y]]\n", "directed cycle: 'a' -> 'b' -> 'a'"),
    ("cycle-with-branch", "a.yaml", "edges: [[x, a], [a, b], [b, c], [c, a], [c, y]]\n", "directed cycle"),
    ("cycle-branch-first", "a.yaml", "edges: [[c, y], [x, a], [a, b], [b, c], [c, a]]\n", "directed cycle"),
    ("two-node-cycle", "a.yaml", "edges: [[a, b], [b, a]]\n", "directed cycle"),
    ("self-loop", "a.yaml", "edges: [[x, h], [h, h], [h, y]]\n", "self-loop on node 'h'"),
    ("duplicate-edge", "a.yaml", "edges: [[x, y], [x, y]]\n", "duplicated edge"),
    ("input-with-incoming", "a.yaml", "nodes: [{id: h, role: input}]\nedges: [[x, h], [h, y]]\n", "input node 'h' has an incoming"),
    ("output-with-outgoing", "a.yaml", "nodes: [{id: h, role: output}]\nedges: [[x, h], [h, y]]\n", "output node 'h' has an outgoing"),
    ("bias-with-incoming", "a.yaml", "nodes: [{id: h, role: bias}]\nedges: [[x, h], [h, y]]\n", "bias node 'h' has an incoming"),
    ("hidden-sink", "a.yaml", "nodes: [{id: y, role: hidden}]\nedges: [[x, y]]\n", "hidden node 'y'"),
    ("mlp-int", "a.yaml", "mlp: {widths: 5}\n", "widths must be a list"),
    ("mlp-string", "a.yaml", "mlp: '2,8,1'\n", "must be a list of widths"),
    ("mlp-widths-string", "a.yaml", "mlp: {widths: '281'}\n", "widths must be a list"),
    ("mlp-one-layer", "a.yaml", "mlp: [2]\n", "at least two"),
    ("mlp-zero", "a.yaml", "mlp: [2, 0, 1]\n", "widths\\[1\\] must be >= 1, got 0"),
    ("mlp-negative", "a.yaml", "mlp: [2, -8, 1]\n", "widths\\[1\\] must be >= 1, got -8"),
    ("mlp-floats", "a.yaml", "mlp: [2.7, 3.2, 1]\n", "widths\\[0\\] must be a whole number, got 2.7"),
    ("mlp-string-width", "a.yaml", "mlp: ['2', 8, 1]\n", "got the string '2'"),
    ("mlp-bool-width", "a.yaml", "mlp: [true, 8, 1]\n", "must be an integer, got True"),
    ("mlp-nested-width", "a.yaml", "mlp: [[2], 1]\n", "must be an integer, got \\[2\\]"),
    ("mlp-huge", "a.yaml", "mlp: [3954981863, 5234970399472]\n", "the limit is"),
    ("mlp-huge-edges", "a.yaml", "mlp: [100000, 100000, 100000]\n", "would have 20000\\d+ edges; the limit"),
    ("mlp-1e300", "a.json", '{"mlp": [2, 1e300]}', "more than 30 digits; the limit"),
    ("mlp-5000-digits", "a.json", '{"mlp": [2, ' + _DIGITS_5000 + "]}", "invalid JSON.*digits"),
    ("mlp-bias-quoted", "a.yaml", "mlp: {widths: [2, 1], bias: 'no'}\n", "bias must be true or false.*'no'"),
    ("mlp-bias-no", "a.yaml", "mlp: {widths: [2, 1], bias: no}\n", "bias must be true or false"),
    ("mlp-bias-int", "a.yaml", "mlp: {widths: [2, 1], bias: 1}\n", "bias must be true or false"),
    ("mlp-unknown-key", "a.yaml", "mlp: {widths: [2, 1], biass: true}\n", "unknown key.*'biass'"),
    ("mlp-no-widths", "a.yaml", "mlp: {bias: true}\n", "mapping with 'widths'"),
    ("mlp-and-edges", "a.yaml", "mlp: [2, 1]\nedges: [[x, y]]\n", "either 'mlp' or"),
    ("mlp-null", "a.yaml", "mlp: null\n", "must be a list of widths"),
    ("ansi-in-bad-value", "a.yaml", 'edges: [["\\e[31mx", y, {size: "\\e[2J"}]]\n', "must be an integer"),
    ("newline-in-bad-key", "a.yaml", 'edges: [[x, y, {"bad\\nkey": 1}]]\n', "unknown edge attribute"),
    ("huge-string-size", "a.yaml", "edges: [[x, y, {size: '" + "z" * 200_000 + "'}]]\n", "got the string 'zzz"),
    ("huge-name-unknown-role", "a.yaml", "nodes: [{id: '" + "n" * 100_000 + "', role: boss}]\nedges: [[x, y]]\n", "unknown role"),
]


@pytest.mark.parametrize("name, content, match", [s[1:] for s in SPECS], ids=[s[0] for s in SPECS])
def test_bad_spec_file_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, name, content, match):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    rc, stdout, err = _cli(capsys, ["audit", path, "--out", out, "--format", "json,md,html"])
    _assert_one_line_error(rc, err, match)
    assert stdout == ""
    _assert_nothing_written(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temp file beside the spec either


def test_spec_cases_are_distinct_and_many():
    assert len({s[0] for s in SPECS}) == len(SPECS) >= 150 - 70


# ----------------------------------------------------------------------------- CLI arguments
ARGS = [
    ("mlp-negative-middle", ["--mlp", "2,-8,1"], "widths must be positive, got '-8'"),
    ("mlp-equals-negative", ["--mlp=-2,8,1"], "widths must be positive, got '-2'"),
    ("mlp-empty-entry", ["--mlp", "2,,1"], "empty entry"),
    ("mlp-empty", ["--mlp", ""], "--mlp expects"),
    ("mlp-one", ["--mlp", "2"], "at least two positive integers"),
    ("mlp-letter", ["--mlp", "2,x,1"], "--mlp expects.*'x'"),
    ("mlp-float", ["--mlp", "2.5,1"], "--mlp expects.*'2.5'"),
    ("mlp-zero", ["--mlp", "0,1"], "at least two positive integers"),
    ("mlp-exponent", ["--mlp", "2,8,1e3"], "--mlp expects.*'1e3'"),
    ("mlp-plus", ["--mlp", "+2,1"], "--mlp expects"),
    ("mlp-fullwidth", ["--mlp", "\uff12,\uff18"], "--mlp expects"),
    ("mlp-too-large", ["--mlp", "99999999999999,1"], "too large"),
    ("mlp-over-limit", ["--mlp", "100000,100000,100000"], "edges; the limit is"),
    ("mlp-spaces-only", ["--mlp", " , "], "empty entry"),
    ("seed-negative", ["--mlp", "2,1", "--seed", "-1"], "--seed must be >= 0, got -1"),
    ("seed-float", ["--mlp", "2,1", "--seed", "1.5"], "--seed expects an integer"),
    ("seed-empty", ["--mlp", "2,1", "--seed", ""], "--seed expects an integer"),
    ("seed-huge", ["--mlp", "2,1", "--seed", str(2**200)], "--seed must be <="),
    ("seed-5000-digits", ["--mlp", "2,1", "--seed", _DIGITS_5000], "--seed expects an integer"),
    ("seed-word", ["--mlp", "2,1", "--seed", "abc"], "--seed expects an integer, got 'abc'"),
    ("seed-missing", ["--mlp", "2,1", "--seed"], "expected one argument"),
    ("max-listed-negative", ["--mlp", "2,1", "--max-listed", "-1"], "--max-listed must be >= 0"),
    ("max-listed-float", ["--mlp", "2,1", "--max-listed", "1e3"], "--max-listed expects an integer"),
    ("max-strata-negative", ["--mlp", "2,1", "--max-strata", "-5"], "--max-strata must be >= 0"),
    ("sample-negative", ["--mlp", "2,1", "--sample", "-3"], "--sample must be >= 0"),
    ("sample-huge", ["--mlp", "2,1", "--sample", "1000000000"], "--sample must be <= 100000"),
    ("format-empty", ["--mlp", "2,1", "--format", ""], "--format needs at least one"),
    ("format-comma", ["--mlp", "2,1", "--format", ","], "--format needs at least one"),
    ("format-pdf", ["--mlp", "2,1", "--format", "pdf"], "unknown --format 'pdf'"),
    ("format-json-xml", ["--mlp", "2,1", "--format", "json,xml"], "unknown --format 'xml'"),
    ("out-empty", ["--mlp", "2,1", "--out", ""], "--out needs a folder name"),
    ("out-blank", ["--mlp", "2,1", "--out", "   "], "--out needs a folder name"),
    ("init-unknown", ["--mlp", "2,1", "--init", "he"], "invalid choice: 'he'"),
    ("level-unknown", ["--mlp", "2,1", "--level", "layer"], "invalid choice: 'layer'"),
    ("no-target", [], "exactly one target"),
    ("two-targets", ["--mlp", "2,1", "--example", "shallow"], "exactly one target"),
    ("weights-without-torch", ["--mlp", "2,1", "--weights", "w.pt"], "--weights goes with --torch"),
    ("unknown-example", ["--example", "nope"], "unknown example 'nope'"),
    ("torch-no-colon", ["--torch", "topo.zoo"], "MODULE:FACTORY"),
    ("unknown-option", ["--mlp", "2,1", "--frobnicate"], "unrecognized arguments"),
    ("spec-empty-name", [""], "spec file name is empty"),
    ("spec-missing", ["missing.yaml"], "cannot read spec file 'missing.yaml'"),
    ("ansi-in-example", ["--example", "\x1b[2Jx"], "unknown example"),
    ("ansi-in-mlp", ["--mlp", "2,\x1b[2J1"], "--mlp expects"),
    ("newline-word-in-mlp", ["--mlp", "2,\nx"], "--mlp expects.*'\\\\nx'|--mlp expects.*'x'"),
]


@pytest.mark.parametrize("argv, match", [a[1:] for a in ARGS], ids=[a[0] for a in ARGS])
def test_bad_cli_arguments_exit_2_with_one_line(tmp_path, capsys, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    extra = ["--out", out] if "--out" not in argv and argv else []
    rc, stdout, err = _cli(capsys, ["audit", *argv, *extra])
    _assert_one_line_error(rc, err, match)
    _assert_nothing_written(out)
    assert [p.name for p in tmp_path.iterdir() if p.name != "out"] == []


def test_bad_command_and_out_on_a_file(tmp_path, capsys):
    rc, _, err = _cli(capsys, ["frobnicate"])
    _assert_one_line_error(rc, err, "invalid choice")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc, _, err = _cli(capsys, ["audit", "--mlp", "2,1", "--out", blocker, "-q"])
    _assert_one_line_error(rc, err, "is an existing file; give a folder")
    assert blocker.read_text() == "not a folder" and [p.name for p in tmp_path.iterdir()] == ["file"]


def test_spec_file_that_is_a_folder_or_too_large(tmp_path, capsys, monkeypatch):
    rc, _, err = _cli(capsys, ["audit", tmp_path])
    _assert_one_line_error(rc, err, "cannot read spec file")
    big = tmp_path / "big.yaml"
    big.write_text("edges: [[x, y]]\n" + "#" * 5000 + "\n")
    monkeypatch.setattr(LIMITS, "max_spec_bytes", 1000)
    rc, _, err = _cli(capsys, ["audit", big])
    _assert_one_line_error(rc, err, "spec file is \\d+ bytes; the limit is 1000")


def test_edge_count_limit_is_checked_before_building(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(LIMITS, "max_edges", 10)
    spec = tmp_path / "many.json"
    spec.write_text(json.dumps({"edges": [[f"x{i}", "y"] for i in range(11)]}))
    rc, _, err = _cli(capsys, ["audit", spec])
    _assert_one_line_error(rc, err, "11 edges; the limit is 10")
    rc, _, err = _cli(capsys, ["audit", "--mlp", "5,3,1"])  # 5*3 + 3 + 3 + 1 = 22 edges
    _assert_one_line_error(rc, err, "would have 22 edges; the limit is 10")


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    spec = tmp_path / "laughs.yaml"
    spec.write_text(_LAUGHS)
    for args, match in ((["audit", "--mlp", "2,-8,1", "--seed", "-1"], "widths must be positive|--seed"),
                        (["audit", str(spec)], "anchors")):
        r = subprocess.run([sys.executable, "-m", "topo.cli", *args], capture_output=True, text=True, timeout=120)
        _assert_one_line_error(r.returncode, r.stderr, match)


# ----------------------------------------------------------------------------- Python API
def _edges_unhashable():
    return topo.Architecture.from_edges([(["a"], "b")])


API = [
    ("edges-int", lambda: topo.Architecture.from_edges(5), GraphError, "edges must be a list"),
    ("edges-string", lambda: topo.Architecture.from_edges("xy"), GraphError, "edges must be a list"),
    ("edges-dict", lambda: topo.Architecture.from_edges({"x": "y"}), GraphError, "edges must be a list"),
    ("unhashable-node", _edges_unhashable, GraphError, "must be hashable.*list"),
    ("set-node", lambda: topo.Architecture.from_edges([("a", {"b"})]), GraphError, "must be hashable.*set"),
    ("nan-node", lambda: topo.Architecture.from_edges([(float("nan"), "y")]), GraphError, "not equal to itself"),
    ("trainable-string", lambda: topo.Architecture.from_edges([("x", "y", {"trainable": "false"})]),
     GraphError, "true or false.*'false'"),
    ("trainable-int", lambda: topo.Architecture.from_edges([("x", "y", {"trainable": 1})]), GraphError, "true or false"),
    ("size-np-float", lambda: topo.Architecture.from_edges([("x", "y", {"size": np.float64(2.5)})]),
     GraphError, "whole number"),
    ("size-huge", lambda: topo.Architecture.from_edges([("x", "y", {"size": 2**70})]), GraphError, "the limit is"),
    ("attrs-int", lambda: topo.Architecture.from_edges([("x", "y", 5)]), GraphError, "must be a mapping"),
    ("nodes-string", lambda: topo.Architecture.from_edges([("x", "y")], nodes="xy"), GraphError, "sequence"),
    ("roles-list-value", lambda: topo.Architecture.from_edges([("x", "y")], roles={"x": ["input"]}),
     GraphError, "unknown role"),
    ("roles-not-mapping", lambda: topo.Architecture.from_edges([("x", "y")], roles=[("x", "input")]),
     GraphError, "roles must be a mapping"),
    ("roles-unknown-node", lambda: topo.Architecture.from_edges([("x", "y")], roles={"q": "input"}),
     GraphError, "unknown node 'q'"),
    ("activation-none", lambda: topo.Architecture.from_edges([("x", "h"), ("h", "y")], activations={"h": None}),
     GraphError, "must be a string"),
    ("activations-list", lambda: topo.Architecture.from_edges([("x", "h"), ("h", "y")], activations=["relu"]),
     GraphError, "activations must be a mapping"),
    ("arrays-float-endpoints", lambda: topo.Architecture.from_arrays([0.5, 1.0], [1.0, 2.0]), GraphError,
     "src must hold integers, got 0.5 at position 0"),
    ("arrays-string-endpoints", lambda: topo.Architecture.from_arrays(["0"], [1]), GraphError, "dtype <U1"),
    ("arrays-bool-endpoints", lambda: topo.Architecture.from_arrays([True], [False]), GraphError, "booleans"),
    ("arrays-shape", lambda: topo.Architecture.from_arrays([0, 1], [1]), GraphError, "src has shape"),
    ("arrays-negative", lambda: topo.Architecture.from_arrays([-1], [1], nodes=2), GraphError, "node indices"),
    ("arrays-nodes-float", lambda: topo.Architecture.from_arrays([0], [1], nodes=2.5), GraphError, "whole number"),
    ("arrays-nodes-negative", lambda: topo.Architecture.from_arrays([0], [1], nodes=-1), GraphError, ">= 0"),
    ("arrays-nodes-huge", lambda: topo.Architecture.from_arrays([0], [1], nodes=10**12), GraphError, "the limit"),
    ("arrays-huge-index", lambda: topo.Architecture.from_arrays([0], [10**12]), GraphError, "the limit on nodes"),
    ("arrays-sizes-float", lambda: topo.Architecture.from_arrays([0], [1], sizes=[1.5]), GraphError, "integers"),
    ("arrays-sizes-string", lambda: topo.Architecture.from_arrays([0], [1], sizes=["2"]), GraphError, "dtype"),
    ("arrays-sizes-huge", lambda: topo.Architecture.from_arrays([0], [1], sizes=[2**40]), GraphError, "limit"),
    ("arrays-trainable-string", lambda: topo.Architecture.from_arrays([0], [1], trainable=["false"]),
     GraphError, "booleans"),
    ("arrays-trainable-2", lambda: topo.Architecture.from_arrays([0], [1], trainable=[2]), GraphError, "booleans"),
    ("arrays-src-string", lambda: topo.Architecture.from_arrays("01", "12"), GraphError, "array of integers"),
    ("arrays-object-float", lambda: topo.Architecture.from_arrays(np.array([0, 1.5], dtype=object), [1, 2]),
     GraphError, "whole number"),
    ("mlp-int", lambda: topo.Architecture.mlp(5), GraphError, "widths must be a list"),
    ("mlp-string", lambda: topo.Architecture.mlp("281"), GraphError, "widths must be a list"),
    ("mlp-floats", lambda: topo.Architecture.mlp([2.7, 3.2, 1]), GraphError, "whole number, got 2.7"),
    ("mlp-bool", lambda: topo.Architecture.mlp([2, True]), GraphError, "integer, got True"),
    ("mlp-huge", lambda: topo.Architecture.mlp([2, 10**40]), GraphError, "the limit"),
    ("mlp-bias-string", lambda: topo.Architecture.mlp([2, 1], bias="no"), GraphError, "bias must be true or false"),
    ("mlp-dict", lambda: topo.Architecture.mlp({"widths": [2, 1]}), GraphError, "widths must be a list"),
    ("theta-complex", lambda: topo.Architecture.mlp([1, 1], bias=False).as_vector([1 + 2j]), ParameterError,
     "complex"),
    ("theta-complex-zero-imag", lambda: topo.balance(topo.Architecture.mlp([1, 1, 1], bias=False),
                                                     np.array([1, 2], dtype=complex)), ParameterError, "complex"),
    ("theta-string", lambda: topo.Architecture.mlp([1, 1], bias=False).as_vector("1.0"), ParameterError, "string"),
    ("theta-strings", lambda: topo.Architecture.mlp([2, 1], bias=False).as_vector(["1", "2"]), ParameterError,
     "text"),
    ("theta-none", lambda: topo.Architecture.mlp([2, 1], bias=False).as_vector([1.0, None]), ParameterError,
     "numbers only"),
    ("theta-ragged", lambda: topo.Architecture.mlp([2, 1], bias=False).as_vector([[1.0], [1.0, 2.0]]),
     ParameterError, "cannot be read"),
    ("theta-bool", lambda: topo.Architecture.mlp([2, 1], bias=False).as_vector([True, False]), ParameterError,
     "booleans"),
    ("theta-map-string", lambda: topo.Architecture.from_edges([("x", "y")]).as_vector({("x", "y"): "2"}),
     ParameterError, "string"),
    ("theta-map-bad-key", lambda: topo.Architecture.from_edges([("x", "y")]).as_vector({"x": 2.0}),
     GraphError, "an edge is a pair"),
    ("theta-map-unhashable-value", lambda: topo.Architecture.from_edges([("x", "y")]).as_vector({("x", "y"): {}}),
     ParameterError, "numbers only"),
    ("c-complex", lambda: topo.connectivity(topo.Architecture.mlp([1, 1, 1], bias=False), [1j]), ParameterError,
     "complex"),
    ("c-string", lambda: topo.connectivity(topo.Architecture.mlp([1, 1, 1], bias=False), ["1"]), ParameterError,
     "text"),
    ("c-map-string", lambda: topo.connectivity(topo.Architecture.mlp([1, 1, 1], bias=False), {"h1_0": "1"}),
     ParameterError, "string"),
    ("init-seed-negative", lambda: topo.Architecture.mlp([2, 1]).init(seed=-1), ParameterError, "seed must be >= 0"),
    ("init-seed-float", lambda: topo.Architecture.mlp([2, 1]).init(seed=1.5), ParameterError, "whole number"),
    ("init-scheme", lambda: topo.Architecture.mlp([2, 1]).init("he"), ParameterError, "unknown init scheme 'he'"),
    ("parse-list", lambda: topo.graph.spec.parse_spec([1]), SpecError, "mapping at top level"),
    ("parse-int-keys", lambda: topo.graph.spec.parse_spec({1: 2, "x": 3}), SpecError, "unknown top-level key"),
    ("parse-tuple-name", lambda: topo.graph.spec.parse_spec({"edges": [[("x",), "y"]]}), SpecError, "node names"),
    ("parse-object-name", lambda: topo.graph.spec.parse_spec({"edges": [[object(), "y"]]}), SpecError, "node names"),
    ("parse-deep-name", lambda: topo.graph.spec.parse_spec({"name": _deep_list(5000), "edges": [["x", "y"]]}),
     SpecError, "'name' must be a string"),
    ("parse-self-referencing", lambda: topo.graph.spec.parse_spec(_self_ref()), SpecError, "node names"),
    ("write-spec-folder", lambda: topo.write_spec(_tmp_folder(), topo.Architecture.mlp([1, 1])), SpecError,
     "it is a folder"),
    ("write-spec-tuple-names", lambda: topo.write_spec(_tmp_folder() + "/t.json",
                                                       topo.Architecture.from_edges([(("a", 1), "y")])),
     SpecError, "strings or integers"),
    ("report-max-listed", lambda: audit(topo.Architecture.mlp([1, 1]), [1.0, 1.0], max_listed=-1),
     ParameterError, "max_listed must be an integer >= 0"),
]


def _deep_list(depth):
    out = []
    for _ in range(depth):
        out = [out]
    return out


def _self_ref():
    edges = [["x", "y"]]
    edges[0][1] = edges  # an edge whose target is the edge list itself
    return {"edges": edges}


def _tmp_folder():
    import tempfile

    return tempfile.mkdtemp()


@pytest.mark.parametrize("call, error, match", [a[1:] for a in API], ids=[a[0] for a in API])
def test_bad_python_input_raises_a_named_topo_error(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert isinstance(info.value, TopoError) and isinstance(info.value, ValueError)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600


def test_at_least_150_hostile_cases():
    assert len(SPECS) + len(ARGS) + len(API) >= 150


def test_cycle_with_a_branch_names_the_cycle():
    # used to raise KeyError from _find_cycle: the output 'y' hangs off the cycle
    with pytest.raises(topo.CycleError) as info:
        topo.Architecture.from_edges([("c", "y"), ("x", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("c", "z")])
    assert sorted(info.value.cycle) == ["a", "b", "c"]
    with pytest.raises(topo.CycleError) as info:  # long cycle with many branches: message stays short
        n = 500
        edges = [(f"v{i}", f"v{(i + 1) % n}") for i in range(n)] + [(f"v{i}", f"o{i}") for i in range(n)]
        topo.Architecture.from_edges([("x", "v0")] + edges)
    assert len(info.value.cycle) == 500 and len(str(info.value)) < 400


def test_billion_laughs_is_refused_quickly_and_cheaply(tmp_path):
    import time
    import tracemalloc

    path = tmp_path / "laughs.yaml"
    path.write_text(_LAUGHS)
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(SpecError, match="anchors"):
        topo.read_spec(path)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 5 and peak < 50 * 2**20


# ----------------------------------------------------------------------------- valid but unusual
def test_unicode_true_and_1_as_node_names(tmp_path, capsys):
    spec = tmp_path / "odd.yaml"
    spec.write_text("name: réseau 网络 🧠\nedges:\n  - [true, 1]\n  - [1, yes]\n  - [no, 1]\n"
                    "  - [1, 'ñ']\n", encoding="utf-8")
    s = topo.read_spec(spec)
    assert s.architecture.nodes == ["true", "no", 1, "yes", "ñ"]
    assert s.architecture.constrained == [1]
    out = tmp_path / "out"
    rc, stdout, err = _cli(capsys, ["audit", spec, "--out", out, "--format", "json,md"])
    assert rc == 0, err
    rep = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert rep["network"]["name"] == "réseau 网络 🧠" and "réseau 网络 🧠" in stdout
    read_report_set(out)


def test_huge_fan_in_still_works(tmp_path, capsys):
    n = 20_000
    spec = tmp_path / "fan.json"
    spec.write_text(json.dumps({"edges": [[f"x{i}", "h"] for i in range(n)] + [["h", "y"]]}))
    out = tmp_path / "out"
    rc, _, err = _cli(capsys, ["audit", spec, "--out", out, "--format", "json", "-q", "--max-strata", "0"])
    assert rc == 0, err
    rep = json.loads((out / "report.json").read_text())
    assert rep["network"]["n_edges"] == n + 1 and rep["network"]["n_constrained"] == 1


def test_hostile_names_are_escaped_and_figures_still_drawn(tmp_path, capsys):
    spec = tmp_path / "evil.yaml"
    spec.write_text(
        'name: "<script>alert(1)</script>\\e[2J"\n'
        "edges:\n"
        '  - ["$\\\\alpha$", "h|x\\n# injected", {weight: 1.0}]\n'
        '  - ["[a](javascript:alert(1))", "h|x\\n# injected", {weight: 1.0}]\n'
        '  - ["h|x\\n# injected", "$x^$", {weight: 3.0}]\n', encoding="utf-8")
    out = tmp_path / "out"
    rc, stdout, err = _cli(capsys, ["audit", spec, "--out", out])
    assert rc == 0, err
    assert "\x1b" not in stdout and "\\x1b" in stdout
    assert "figures not drawn" not in err and "Traceback" not in err  # mathtext is off for user text
    md = (out / "report.md").read_text(encoding="utf-8")
    prose = re.sub(r"`[^`\n]*`", "", md)  # inside a code span a name is shown literally, never a link
    assert "<script>" not in md and "](javascript:" not in prose and "\n# injected" not in md
    assert "`[a](javascript:alert(1))`" in md
    assert "\\<script\\>" in md and "`$x^$`" in md and "`h\\|x\\n# injected`" in md
    tables, block = [], []
    for line in md.splitlines() + [""]:  # every row of a table keeps its header's column count
        if line.startswith("|"):
            block.append(line)
        elif block:
            tables.append(block)
            block = []
    assert sum(any(r.startswith("| `h\\|x") for r in t) for t in tables) >= 2  # the hostile node is in tables
    for t in tables:
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in t}
        assert len(widths) == 1, t
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html and html.count("<img") == 2
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "report.html", "report.json", "report.md"]


def test_yaml_floats_and_plain_words(tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text("edges:\n  - [x, h, {weight: 1e8}]\n  - [h, y, {weight: 2.5E-3}]\n  - [h, on, {weight: -1}]\n")
    s = topo.read_spec(spec)
    np.testing.assert_array_equal(s.theta, [1e8, 2.5e-3, -1.0])
    assert "on" in s.architecture.outputs


def test_mlp_dash_syntax_is_still_accepted(capsys):
    rc, stdout, err = _cli(capsys, ["audit", "--mlp", "2-3-1", "--max-strata", "0"])
    assert rc == 0 and "13 parameters" in stdout, err


# ----------------------------------------------------------------------------- scale-safe numerics
def _eight_component_net():
    # three hidden units whose outgoing weight dominates: c < 0, each h -> y frozen: 2^3 components
    arch = topo.Architecture.mlp([1, 3, 1], bias=False)
    theta = np.array([1.0, 0.5, 0.25, 2.0, 1.5, 1.0])
    return arch, theta


@pytest.mark.parametrize("scale", [1e-162, 1e-170, 2.0**-560, 1.0, 1e150, 1e170, 2.0**510])
def test_tiny_and_huge_weights_keep_the_component_count(tmp_path, capsys, scale):
    arch, theta = _eight_component_net()
    ref = topo.connectivity(arch, topo.balance(arch, theta)).n_components
    assert ref == 8
    rep = audit(arch, theta * scale)
    assert rep["connectivity"]["n_components"] == 8
    json.dumps(rep, allow_nan=False)  # strict JSON: no inf or nan anywhere
    assert topo.component_label(arch, theta * scale) == topo.component_label(arch, theta)
    spec = tmp_path / "s.json"
    topo.write_spec(spec, arch, theta * scale)
    out = tmp_path / "out"
    rc, stdout, err = _cli(capsys, ["audit", spec, "--out", out, "--format", "json,md"])
    assert rc == 0, err
    written = json.loads((out / "report.json").read_text())
    assert written["connectivity"]["n_components"] == 8
    if scale < 1e-150 or scale > 1e150:
        assert written["balances"]["unit_log2"] != 0 and "units of 2^" in stdout


def test_equal_huge_balances_make_a_one_bin_histogram(tmp_path, capsys):
    from topo.report.build import _histogram

    for value in (1e16, -3e300, 5e-320, 0.0, 1e308):
        h = _histogram(np.full(7, value))
        assert h == {"counts": [7], "edges": [value, value]}
    h = _histogram(np.array([-1.7e308, 1.7e308, 0.0]))
    assert sum(h["counts"]) == 3 and np.all(np.isfinite(h["edges"])) and h["edges"][0] == -1.7e308
    h = _histogram(np.array([1e16, 1e16 + 2.0]))  # equal up to rounding
    assert h["counts"] == [2]
    spec = tmp_path / "eq.yaml"  # the example: an edge of weight 1e8, all balances equal
    spec.write_text("edges:\n" + "".join(f"  - [x{i}, h{i}, {{weight: 1.0e8}}]\n  - [h{i}, y, {{weight: 1.0}}]\n"
                                         for i in range(4)))
    rc, _, err = _cli(capsys, ["audit", spec, "--out", tmp_path / "out", "-q"])
    assert rc == 0 and err == "", err


def test_control_characters_in_the_output_folder_name_never_reach_the_terminal(tmp_path, capsys):
    out = tmp_path / "o\x1b[2Jut"
    rc, stdout, err = _cli(capsys, ["audit", "--mlp", "2,1", "--out", out, "--format", "json", "--max-strata", "0"])
    assert rc == 0, err
    assert "\x1b" not in stdout + err and "\\x1b" in stdout
    assert (out / "report.json").exists()
