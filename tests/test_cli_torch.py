"""The torch path of ``topo audit``: module lookup, --input-shape, one-line errors (exit 2), safe loading."""

import json
import pickle

import pytest

torch = pytest.importorskip("torch")

from topo.cli import main  # noqa: E402

MODELS = '''
import torch


def tiny():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))


def conv():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, 2))


def raises():
    raise RuntimeError("no GPU here\\nsecond line")


def not_a_model():
    return 42


NUMBER = 3


def shared():
    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    return Shared()
'''


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


@pytest.fixture
def folder(tmp_path, monkeypatch):
    name = f"mymodels_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    return tmp_path, name


def _run(capsys, *args):
    code = main(["audit", "-q", *args])
    err = capsys.readouterr().err
    return code, err


def test_module_in_the_current_folder_and_input_shape(folder, capsys):
    tmp, name = folder
    code, err = _run(capsys, "--torch", f"{name}:tiny", "--out", "o", "--format", "json")
    assert code == 0, err
    rep = json.loads((tmp / "o" / "report.json").read_text())
    assert rep["network"]["n_constrained"] == 4 and "neuron level" in rep["network"]["source"]
    code, err = _run(capsys, "--torch", f"{name}:conv")
    assert code == 2 and "need --input-shape" in err and len(err.strip().splitlines()) == 1
    code, err = _run(capsys, "--torch", f"{name}:conv", "--input-shape", "1,3,9,9", "--out", "c", "--format", "json")
    assert code == 0, err
    rep = json.loads((tmp / "c" / "report.json").read_text())
    assert rep["network"]["n_constrained"] == 4 and "channel level" in rep["network"]["source"]


@pytest.mark.parametrize("args, message", [
    (("--torch", "{m}:raises"), "{m}:raises() raised RuntimeError: no GPU here"),
    (("--torch", "{m}:not_a_model"), "returned a int, not a torch.nn.Module"),
    (("--torch", "{m}:NUMBER"), "is a int, not a callable"),
    (("--torch", "{m}:nothing"), "has no attribute 'nothing'"),
    (("--torch", "{m}:shared"), "module 'fc' (Linear) is called 2 times"),
    (("--torch", "{m}:conv", "--input-shape", "1,5,9,9"), "running the model on example_input"),
    (("--torch", "{m}:conv", "--input-shape", "3,x"), "--input-shape expects positive integers"),
    (("--mlp", "2,1", "--input-shape", "1,2"), "--input-shape goes with --torch"),
    (("--torch", "{m}:tiny", "--weights", "corrupt.pt"), "cannot load weights file 'corrupt.pt'"),
    (("--torch", "{m}:tiny", "--weights", "wrong.pt"), "the weights do not fit the model"),
    (("--torch", "{m}:tiny", "--weights", "list.pt"), "not a state_dict"),
])
def test_every_failure_is_one_line_and_exit_2(folder, capsys, args, message):
    tmp, name = folder
    (tmp / "corrupt.pt").write_bytes(b"not a zip file at all")
    torch.save({"0.weight": torch.zeros(5, 5)}, tmp / "wrong.pt")
    torch.save([torch.zeros(2)], tmp / "list.pt")
    code, err = _run(capsys, *(a.format(m=name) for a in args))
    assert code == 2, err
    assert message.format(m=name) in err and len(err.strip().splitlines()) == 1, err


def test_weights_are_loaded_without_running_code(folder, capsys, monkeypatch):
    tmp, name = folder
    with open(tmp / "evil.pt", "wb") as f:
        pickle.dump({"0.weight": _Evil()}, f)
    torch.save({"0.weight": torch.zeros(4, 3), "0.bias": torch.zeros(4), "2.weight": torch.zeros(1, 4),
                "2.bias": torch.zeros(1), "extra": _Evil()}, tmp / "evil2.pt")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # must not switch the safe loader off
    for f in ("evil.pt", "evil2.pt"):
        code, err = _run(capsys, "--torch", f"{name}:tiny", "--weights", f)
        assert code == 2 and "cannot load weights file" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp / "pwned").exists()
