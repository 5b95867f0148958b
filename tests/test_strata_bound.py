"""The strata search estimates its cost before each step and stops, saying so, at the bound."""

import numpy as np

import topo
from topo.cli import main
from topo.fiber.singular import singular_strata


def test_search_stops_before_exceeding_the_bound_and_names_the_option():
    arch = topo.Architecture.mlp([2, 3, 3, 1])
    c = np.zeros(arch.n_constrained)  # every cluster is a zero-sum candidate
    full = singular_strata(arch, c, max_size=2)
    assert full.complete and not full.stopped and len(full) > 0
    lp = arch.n_edges + arch.n_nodes
    part = singular_strata(arch, c, max_size=1, max_work=2 * lp)
    assert not part.complete and len(part) == 2 and part.n_examined == 2
    assert "max_strata_work" in part.stopped and "--max-strata-work" in part.stopped
    # listing clusters of several units is charged too
    none = singular_strata(arch, c, max_size=2, max_work=5)
    assert not none.complete and len(none) == 0 and "listing clusters" in none.stopped
    # the strata found within the bound are the first ones of the full search
    assert [s.nodes for s in part] == [s.nodes for s in singular_strata(arch, c, max_size=1)][:2]


def test_audit_reports_the_bound(tmp_path, capsys):
    arch = topo.Architecture.mlp([2, 3, 1], bias=False)
    theta = np.zeros(arch.n_params)
    rep = topo.audit(arch, theta, max_strata_work=1).report
    assert not rep["singular_strata"]["complete"] and "max_work=1" in rep["singular_strata"]["stopped"]
    assert any("--max-strata-work" in n for n in rep["notes"])
    spec = tmp_path / "z.yaml"
    spec.write_text("edges:\n  - [x, h, {weight: 0.0}]\n  - [h, y, {weight: 0.0}]\n")
    assert main(["audit", "-q", str(spec), "--max-strata-work", "3", "--out", str(tmp_path / "o"),
                 "--format", "json"]) == 0
    import json

    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert "max_work=3" in rep["singular_strata"]["stopped"]
    assert main(["audit", "-q", str(spec), "--max-strata-work", "-1"]) == 2
    assert "--max-strata-work must be >= 0" in capsys.readouterr().err
