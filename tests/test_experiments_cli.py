"""`topo sweep CONFIG`: tables, output files and one-line errors."""

import csv
import json

import pytest

from topo.cli import main
from topo.experiments import obstruction_table


def test_sweep_yaml_to_csv_matches_the_python_call(tmp_path, capsys):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("experiment: obstruction\nwidths: [[1, 2, 1], [2, 8, 1]]\ninits: [kaiming, xavier]\n"
                   "method: monte_carlo\nn_samples: 300\nseed: 4\n")
    out = tmp_path / "t.csv"
    assert main(["sweep", str(cfg), "--out", str(out)]) == 0
    assert "per_unit" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    ref = obstruction_table([(1, 2, 1), (2, 8, 1)], inits=("kaiming", "xavier"), method="monte_carlo",
                            n_samples=300, seed=4)
    assert [float(r["per_unit"]) for r in rows] == list(ref["per_unit"])
    assert [r["widths"] for r in rows] == ["1-2-1", "1-2-1", "2-8-1", "2-8-1"]


def test_sweep_json_exact(tmp_path):
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"experiment": "obstruction", "widths": [[1, 32, 1]], "inits": ["kaiming"]}))
    out = tmp_path / "t.json"
    assert main(["sweep", str(cfg), "--out", str(out), "-q"]) == 0
    assert round(json.loads(out.read_text())["table"][0]["per_unit"], 3) == 0.111


@pytest.mark.parametrize("text, message", [
    ("experiment: nope\n", "'experiment' set to one of"),
    ("experiment: obstruction\nwidth: [[1, 2, 1]]\n", "unknown key(s) 'width'"),
    ("experiment: obstruction\nwidths: [[1, 2, 3]]\n", "scalar output"),
    ("- 1\n- 2\n", "must hold a mapping"),
    ("experiment: [unclosed\n", "not valid"),
])
def test_sweep_bad_configs_exit_2_with_one_line(tmp_path, capsys, text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    assert main(["sweep", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_sweep_missing_file_and_bad_out(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
    cfg = tmp_path / "s.yaml"
    cfg.write_text("experiment: obstruction\nwidths: [[1, 2, 1]]\n")
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "t.txt")]) == 2
    assert ".csv or .json" in capsys.readouterr().err
