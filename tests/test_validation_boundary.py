"""One validation boundary (issue 17, item 3): every public function checks its arguments on
entry with :func:`topo.utils.validation.validate_params` and refuses bad ones with a
``TopoError`` (never a bare ``ValueError``/``TypeError`` or a numpy error); the CLI turns
every ``TopoError`` into one line and exit code 2.

* ``test_every_declared_constraint_refuses_its_bad_values`` walks every decorated function and
  method of the package and calls it with each bad value of each declared constraint;
* ``HAND_WRITTEN`` checks the main functions with typical mistakes, class and phrase;
* ``test_public_functions_declare_their_scalar_arguments`` fails when a public function takes a
  number, a flag or a choice without declaring a constraint for it;
* the CLI, the AST scan for bare raises, the memory budget and the file-size limit follow.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pathlib
import pkgutil
import re
import subprocess
import sys

import numpy as np
import pytest

import topo
from topo.cli import main
from topo.errors import FiberError, GraphError, ParameterError, ReportError, SpecError, TopoError
from topo.experiments import ExperimentError
from topo.utils.validation import LIMITS, Constraint

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "topo"


# ----------------------------------------------------------------------------- the decorated callables
def _decorated():
    """``{"module.qualname": (owner class or None, name, function)}`` of every callable in topo
    that declares constraints (functions of every module, methods of every class)."""
    found = {}
    for info in pkgutil.walk_packages(topo.__path__, "topo."):
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if inspect.isfunction(obj) and obj.__module__ == mod.__name__ and hasattr(obj, "parameter_constraints"):
                found[f"{mod.__name__}.{obj.__qualname__}"] = (None, name, obj)
            if inspect.isclass(obj) and obj.__module__ == mod.__name__:
                for attr, member in vars(obj).items():
                    fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                    if hasattr(fn, "parameter_constraints"):
                        found[f"{mod.__name__}.{fn.__qualname__}"] = (obj, attr, fn)
    return found


DECORATED = _decorated()


class _Fixtures:
    """Small valid arguments, by parameter name (built once, on first use)."""

    def __init__(self, tmp):
        self.tmp = tmp
        self._cache = {}

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._cache:
            self._cache[name] = getattr(type(self), "make_" + name)(self)
        return self._cache[name]

    def make_arch(self):
        return topo.Architecture.mlp([2, 3, 1])

    def make_theta(self):
        return self.arch.init(seed=0)

    def make_c(self):
        return topo.balance(self.arch, self.theta)

    def make_X(self):
        return np.random.default_rng(0).standard_normal((4, 2))

    def make_pattern(self):
        return topo.activation_patterns(self.arch, self.theta, self.X)

    def make_points(self):
        return np.random.default_rng(1).standard_normal((12, 3))

    def make_diagrams(self):
        return topo.persistence(self.points, max_dimension=0)

    def make_connectivity(self):
        return topo.connectivity(self.arch, self.c)

    def make_audit(self):
        return topo.audit(self.arch, self.theta)

    def make_report(self):
        return self.audit.report

    def make_group(self):
        return topo.automorphism_group(self.arch)

    def make_symmetry(self):
        return topo.components_up_to_symmetry(self.arch, self.c)

    def make_topology(self):
        return topo.verify_topology(self.arch, self.c, n_samples=40, seed=0)

    def make_stratum(self):
        arch = topo.Architecture.mlp([1, 1, 1], bias=False)
        return next(iter(topo.singular_strata(arch, [0.0])))

    def make_folder(self):
        return str(self.tmp / "out")

    def make_model(self):
        torch = pytest.importorskip("torch")
        return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


#: Required arguments by name (``F`` is the fixtures); ``None``: the function takes a
#: constrained required argument whose valid value is given in ``PER_FUNCTION``.
BY_NAME = {
    "arch": lambda F: F.arch, "theta": lambda F: F.theta, "theta0": lambda F: F.theta,
    "theta1": lambda F: F.theta, "theta2": lambda F: F.theta, "c": lambda F: F.c, "X": lambda F: F.X,
    "y": lambda F: F.X[:, 0], "Y": lambda F: F.X[:, :1], "pattern": lambda F: F.pattern,
    "points": lambda F: F.points, "diagrams": lambda F: F.diagrams, "lengths": lambda F: [1.0, 0.5],
    "cluster": lambda F: ["h1_0"], "widths": lambda F: [2, 3, 1], "target": lambda F: [2, 3, 1],
    "report": lambda F: F.report, "out_dir": lambda F: F.folder, "folder": lambda F: F.folder,
    "path": lambda F: str(F.tmp / "net.json"), "model": lambda F: F.model, "node": lambda F: "h1_0",
    "perm": lambda F: np.arange(F.arch.n_nodes), "data": lambda F: {"mlp": [2, 1]},
    "G": lambda F: F.arch.to_networkx(), "edges": lambda F: [("x", "y")], "src": lambda F: [0],
    "dst": lambda F: [1], "text": lambda F: "x", "x": lambda F: [0.0, 1.0, 2.0], "tasks": lambda F: [],
    "config": lambda F: {"experiment": "obstruction", "widths": [[1, 2, 1]]},
    "optimizer": lambda F: pytest.importorskip("torch").optim.SGD(F.model.parameters(), lr=0.1),
}
PER_FUNCTION = {
    "topo.sampling.points.sample_fiber": {"n": 5},
    "topo.graph.generators.bottleneck_chain": {"n": 3},
    "topo.graph.generators.binary_tree": {"depth": 2},
    "topo.graph.generators.random_layered_dag": {"n_layers": 2, "width": 4},
    "topo.experiments.regularizers.penalty": {"kind": "l1", "strength": 0.1},
    "topo.experiments.runner.task_seeds": {"seed": 0, "n": 2},
    "topo.experiments.pathological.linear_fit": {"y": [0.0, 1.0, 2.1]},
    "topo.varieties.patterns.modular_rank": {"M": [[1, 2], [3, 4]]},
    "topo.varieties.patterns.unpack_pattern": {"key": b"\x80", "n_points": 1, "n_units": 1},
    "topo.sampling.persistence.cluster_sizes": {"n_points": 2, "mst": (np.zeros(1, int), np.ones(1, int),
                                                                       np.ones(1)), "cut": 0.5},
    "topo.sampling.factors.sample_factor": {"rows": np.array([0]), "edges": np.arange(3), "kept": np.array([2]),
                                            "n": 10, "rng": np.random.default_rng(0)},
    "topo.graph.catalog.get": {"name": "shallow"},
    "topo.graph.spec.read_spec": {"path": "net.json"},
    "topo.experiments.config.read_config": {"path": "sweep.yaml"},
}
#: An instance for the methods of each class.
INSTANCE = {
    "Architecture": lambda F: F.arch, "Audit": lambda F: F.audit, "ConnectivityReport": lambda F: F.connectivity,
    "Decomposition": lambda F: topo.decompose(F.arch), "AutomorphismGroup": lambda F: F.group,
    "SymmetryClasses": lambda F: F.symmetry, "TopologyCheck": lambda F: F.topology,
    "FactorCheck": lambda F: F.topology.factors[0], "Stratum": lambda F: F.stratum,
    "BalanceMonitor": lambda F: topo.BalanceMonitor(F.model),
}


def _call_target(F, key):
    """``(callable, valid keyword arguments)`` for the decorated callable ``key``."""
    owner, attr, fn = DECORATED[key]
    if owner is None:
        target = fn
    elif isinstance(vars(owner)[attr], (classmethod, staticmethod)):
        target = getattr(owner, attr)
    else:
        target = getattr(INSTANCE[owner.__name__](F), attr)
    kwargs = {}
    for name, p in inspect.signature(target).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not inspect.Parameter.empty:
            continue
        given = PER_FUNCTION.get(key, {})
        if name in given:
            kwargs[name] = given[name]
        else:
            assert name in BY_NAME, f"{key}: no valid value for the required argument {name!r} (add one to BY_NAME)"
            kwargs[name] = BY_NAME[name](F)
    return target, kwargs


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    return _Fixtures(tmp_path_factory.mktemp("boundary"))


def test_the_walk_finds_the_decorated_callables():
    names = {k.rsplit(".", 1)[-1] for k in DECORATED}
    assert len(DECORATED) >= 90
    for expected in ("connectivity", "fiber_path", "sample_fiber", "verify_topology", "train", "from_torch",
                     "audit", "write_report", "init", "save", "to_dict", "pathological_sweep", "incidence_matrix"):
        assert expected in names, expected


@pytest.mark.parametrize("key", sorted(DECORATED))
def test_every_declared_constraint_refuses_its_bad_values(fixtures, key):
    target, valid = _call_target(fixtures, key)
    constraints = DECORATED[key][2].parameter_constraints
    for name, constraint in constraints.items():
        assert isinstance(constraint, Constraint)
        if name in valid:
            assert constraint.accepts(valid[name]), f"{key}: the fixture for {name!r} is not valid"
        bad_values = constraint.bad_values()
        assert bad_values, f"{key}: {name} has no bad values"
        for bad in bad_values:
            with pytest.raises(TopoError) as info:
                target(**(valid | {name: bad}))
            message = str(info.value)
            assert name in message and DECORATED[key][2].__name__ in message, message
            assert "\n" not in message and len(message) < 600, message


# ----------------------------------------------------------------------------- typical mistakes, by hand
def _arch():
    return topo.Architecture.mlp([2, 3, 1])


def _theta():
    return _arch().init(seed=0)


def _c():
    return topo.balance(_arch(), _theta())


_X = np.random.default_rng(0).standard_normal((4, 2))
NAN, INF = float("nan"), float("inf")

HAND_WRITTEN = [
    # (id, call, error class, phrase of the message)
    ("connectivity-tol-negative", lambda: topo.connectivity(_arch(), _c(), tol=-1), ParameterError,
     "connectivity: tol must be a finite number >= 0 (or None), got -1"),
    ("connectivity-tol-nan", lambda: topo.connectivity(_arch(), _c(), tol=NAN), ParameterError, "got nan"),
    ("connectivity-tol-inf", lambda: topo.connectivity(_arch(), _c(), tol=INF), ParameterError, "finite"),
    ("connectivity-tol-string", lambda: topo.connectivity(_arch(), _c(), tol="0.1"), ParameterError,
     "got the string '0.1'"),
    ("connectivity-tol-bool", lambda: topo.connectivity(_arch(), _c(), tol=True), ParameterError, "got True"),
    ("connectivity-not-an-arch", lambda: topo.connectivity("mlp", [1.0]), ParameterError, "an Architecture"),
    ("strata-tol", lambda: topo.singular_strata(_arch(), _c(), tol=-1e-3), ParameterError, "tol must be"),
    ("strata-max-size-zero", lambda: topo.singular_strata(_arch(), _c(), max_size=0), ParameterError,
     "max_size must be an integer >= 1 \\(or None\\)"),
    ("has-singularities-tol", lambda: topo.has_singularities(_arch(), _c(), tol=NAN), ParameterError, "tol"),
    ("floating-tol", lambda: topo.floating_clusters(_arch(), _theta(), tol=-1), ParameterError, "tol must be"),
    ("jacobian-tol", lambda: topo.jacobian_rank(_arch(), _theta(), tol=INF), ParameterError, "tol must be"),
    ("betti-tol", lambda: topo.betti_numbers(_arch(), _c(), tol=-1), ParameterError, "tol must be"),
    ("betti-method", lambda: topo.betti_numbers(_arch(), _c(), method="exact"), ParameterError,
     "method must be 'auto' or 'hochster'"),
    ("betti-max-core-float", lambda: topo.betti_numbers(_arch(), _c(), max_core=2.5), ParameterError,
     "max_core must be an integer >= 0, got 2.5"),
    ("same-component-rtol", lambda: topo.same_component(_arch(), _theta(), _theta(), rtol=-1), ParameterError,
     "rtol must be"),
    ("fiber-path-steps-zero", lambda: topo.fiber_path(_arch(), _theta(), _theta(), n_steps=0), ParameterError,
     "n_steps must be an integer >= 1, got 0"),
    ("fiber-path-steps-string", lambda: topo.fiber_path(_arch(), _theta(), _theta(), n_steps="10"),
     ParameterError, "n_steps must be an integer"),
    ("fiber-path-steps-fraction", lambda: topo.fiber_path(_arch(), _theta(), _theta(), n_steps=2.5),
     ParameterError, "got 2.5"),
    ("sample-fiber-zero", lambda: topo.sample_fiber(_arch(), _c(), 0), ParameterError, "n must be an integer >= 1"),
    ("sample-fiber-negative", lambda: topo.sample_fiber(_arch(), _c(), -5), ParameterError, "got -5"),
    ("sample-fiber-bool", lambda: topo.sample_fiber(_arch(), _c(), True), ParameterError, "got True"),
    ("sample-fiber-radius", lambda: topo.sample_fiber(_arch(), _c(), 5, radius=0), ParameterError,
     "radius must be a finite number > 0 \\(or None\\)"),
    ("sample-fiber-coordinates", lambda: topo.sample_fiber(_arch(), _c(), 5, coordinates="some"), ParameterError,
     "coordinates must be 'all' or 'bottleneck'"),
    ("sample-fiber-face-fraction", lambda: topo.sample_fiber(_arch(), _c(), 5, face_fraction=1.5),
     ParameterError, "face_fraction must be a finite number in [0, 1]"),
    ("sample-fiber-seed", lambda: topo.sample_fiber(_arch(), _c(), 5, seed=-1), ParameterError, "seed must be >= 0"),
    ("verify-one-sample", lambda: topo.verify_topology(_arch(), _c(), n_samples=1), ParameterError,
     "n_samples must be an integer >= 2, got 1"),
    ("verify-density-of-a-report", lambda: topo.verify_topology(_arch(), _c(), connectivity="rep"),
     ParameterError, "a ConnectivityReport"),
    ("audit-sample-one", lambda: topo.audit([2, 3, 1], sample=1), ParameterError,
     "sample must be an integer >= 0: 0 or an integer in \\[2, 100000\\]"),
    ("audit-sample-negative", lambda: topo.audit([2, 3, 1], sample=-1), ParameterError,
     "sample must be an integer >= 0"),
    ("audit-level", lambda: topo.audit([2, 3, 1], level="layer"), ParameterError, "level must be 'auto'"),
    ("audit-init", lambda: topo.audit([2, 3, 1], init="he"), ParameterError, "unknown init scheme 'he'"),
    ("audit-max-listed-float", lambda: topo.audit([2, 3, 1], max_listed=1.5), ParameterError,
     "max_listed must be an integer >= 0"),
    ("realized-samples", lambda: topo.realized_patterns(_arch(), _X, n_samples=-1), ParameterError,
     "n_samples must be an integer >= 0"),
    ("realized-batch", lambda: topo.realized_patterns(_arch(), _X, batch=0), ParameterError, "batch must be"),
    ("pattern-variety-primes", lambda: topo.pattern_variety(_arch(), _X, np.ones((4, 3), bool), n_primes=9),
     ParameterError, "n_primes must be an integer in \\[1, 4\\]"),
    ("check-outputs-tol", lambda: topo.check_outputs(_arch(), _X, np.ones((4, 3), bool), _X[:, :1], tol=NAN),
     ParameterError, "tol must be"),
    ("pattern-strings", lambda: topo.output_invariants(_arch(), _X, [["a"] * 3] * 4), ParameterError,
     "pattern must be an array of booleans"),
    ("functional-dimension-tol", lambda: topo.functional_dimension(_arch(), _theta(), _X, tol=-1), ParameterError,
     "tol must be a finite number >= 0 \\(or None\\)"),
    ("forward-hidden-flag", lambda: topo.forward(_arch(), _theta(), _X, return_hidden="yes"), ParameterError,
     "return_hidden must be true or false"),
    ("incidence-over", lambda: topo.incidence_matrix(_arch(), over="nodes"), ParameterError,
     "over must be 'edges' or 'parameters'"),
    ("automorphism-backend", lambda: topo.automorphism_group(_arch(), backend="nauty"), ParameterError,
     "backend must be 'auto', 'bliss' or 'networkx'"),
    ("classes-representatives", lambda: topo.components_up_to_symmetry(_arch(), _c(), max_representatives=-1),
     ParameterError, "max_representatives must be an integer >= 0"),
    ("restore-balances-iterations", lambda: topo.symmetry.restore_balances(_arch(), _theta(), _c(), max_iter=0),
     ParameterError, "max_iter must be an integer >= 1"),
    ("apply-automorphism-perm", lambda: topo.symmetry.apply_automorphism(_arch(), [0, 1], _theta()),
     ParameterError, "perm must be a permutation"),
    ("prunability-hidden", lambda: topo.prunability(_arch(), _theta(), hidden="some"), ParameterError,
     "hidden must be 'constrained' or 'all'"),
    ("region-direction", lambda: topo.decompose(topo.generators.bottleneck_chain(2)).region("h0", "up"),
     ParameterError, "direction must be 'in' or 'out'"),
    ("prune-not-a-list", lambda: topo.prune(_arch(), _theta(), 5), GraphError, "cluster must be a list"),
    ("witness-not-an-edge", lambda: topo.connectivity(_arch(), _c()).witness(5), GraphError, "an edge is a pair"),
    ("witness-not-frozen", lambda: topo.connectivity(_arch(), np.ones(3)).witness(("x0", "h1_0")), GraphError,
     "not frozen"),
    ("init-seed-negative", lambda: _arch().init(seed=-1), ParameterError, "init: seed must be >= 0"),
    ("init-seed-fraction", lambda: _arch().init(seed=0.5), ParameterError, "whole number"),
    ("init-bias-rule", lambda: _arch().init(bias="ones"), ParameterError, "unknown bias rule 'ones'"),
    ("persistence-dimension", lambda: topo.persistence(_X, max_dimension=-1), ParameterError,
     "max_dimension must be an integer >= 0"),
    ("persistence-strings", lambda: topo.persistence([["a", "b"]]), ParameterError, "text"),
    ("estimate-rule", lambda: topo.estimate_betti(topo.persistence(_X, max_dimension=0), rule="best"),
     ParameterError, "rule must be 'auto', 'lowest' or 'largest'"),
    ("estimate-not-diagrams", lambda: topo.estimate_betti([1, 2]), ParameterError, "persistence diagrams"),
    ("train-lr", lambda: topo.train(_arch(), _theta(), _X, _X[:, 0], lr=-1), ParameterError,
     "lr must be a finite number > 0"),
    ("train-steps-fraction", lambda: topo.train(_arch(), _theta(), _X, _X[:, 0], steps=2.5), ParameterError,
     "steps must be an integer >= 0"),
    ("train-loss", lambda: topo.train(_arch(), _theta(), _X, _X[:, 0], loss="l2"), ParameterError,
     "unknown loss 'l2'"),
    ("train-y-strings", lambda: topo.train(_arch(), _theta(), _X, ["a"] * 4), ParameterError,
     "y must be an array of numbers"),
    ("bottleneck-chain-zero", lambda: topo.generators.bottleneck_chain(0), ParameterError, "n must be an integer"),
    ("binary-tree-negative", lambda: topo.generators.binary_tree(-1), ParameterError, "depth must be"),
    ("random-dag-probability", lambda: topo.generators.random_layered_dag(2, 4, p_skip=2), ParameterError,
     "p_skip must be a finite number in [0, 1]"),
    ("balance-ragged", lambda: topo.balance(_arch(), [[1.0], [1.0, 2.0]]), ParameterError, "cannot be read"),
    ("edge-lookup-strings", lambda: _arch().edge_lookup(["a"], ["b"]), GraphError, "tails must hold integers"),
    ("read-spec-not-a-path", lambda: topo.read_spec(5), SpecError, "path must be a path"),
    ("write-report-format", lambda: topo.report.write_report({}, "/tmp", formats=("pdf",)), ParameterError,
     "formats must be a list or tuple of 'json', 'md' or 'html'"),
    ("write-report-string", lambda: topo.report.write_report({}, "/tmp", formats="json"), ParameterError,
     "got the string 'json'"),
    ("read-report-set-none", lambda: topo.report.read_report_set(None), ReportError, "out_dir must be a path"),
    ("sweep-lr", lambda: topo.experiments.pathological_sweep(lr=0), ExperimentError, "lr must be a finite number > 0"),
    ("sweep-seed", lambda: topo.experiments.pathological_sweep(seed="s"), ExperimentError, "seed must be"),
    ("obstruction-samples", lambda: topo.experiments.obstruction_probability((1, 2, 1), method="monte_carlo",
                                                                             n_samples=1), ExperimentError,
     "n_samples must be an integer >= 2"),
    ("linear-fit-strings", lambda: topo.experiments.linear_fit(["a"], [1]), ExperimentError, "string|text"),
    ("same-component-different-fibers", lambda: topo.same_component(_arch(), _theta(), 2 * _theta()), FiberError,
     "different fibers"),
]


@pytest.mark.parametrize("call, error, phrase", [h[1:] for h in HAND_WRITTEN], ids=[h[0] for h in HAND_WRITTEN])
def test_typical_mistakes_raise_the_named_topo_error(call, error, phrase):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, TopoError), type(info.value)
    message = str(info.value)
    assert re.search(phrase, message) or phrase in message, message
    assert "\n" not in message and len(message) < 600


def test_torch_import_arguments():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(2, 1))
    with pytest.raises(ParameterError, match="from_torch: level must be 'auto', 'neuron' or 'channel'"):
        topo.from_torch(net, level="layer")
    with pytest.raises(ParameterError, match="strict must be true or false"):
        topo.from_torch(net, strict="no")
    with pytest.raises(topo.errors.TargetError, match="needs a torch.nn.Module"):
        topo.from_torch("net")


def _torch_input_cases():
    """(label, call, error, phrase): a bad example input or model handed to from_torch / audit; each
    raised a raw AttributeError, IndexError or NotImplementedError from inside the import before."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    def mlp():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double().eval()

    def conv():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, 2)).eval()

    def poisoned(layer, attr, index, value, make=mlp):
        net = make()
        with torch.no_grad():
            getattr(net[layer], attr)[index] = value
        return net

    Target, Param = topo.errors.TargetError, ParameterError
    return [
        ("a list of lists", lambda: topo.from_torch(mlp(), [[1.0, 2.0, 3.0]]), Target, "got a list"),
        ("a string", lambda: topo.from_torch(mlp(), "x"), Target, "tensor, a numpy array or a shape tuple"),
        ("a dict", lambda: topo.from_torch(mlp(), {"x": torch.zeros(2, 3)}), Target, "got a dict"),
        ("an empty batch", lambda: topo.from_torch(conv(), torch.zeros(0, 3, 8, 8)), Target,
         r"shape \(0, 3, 8, 8\) holds no sample"),
        ("a negative shape", lambda: topo.from_torch(conv(), (1, 3, -8, 8)), Target, "negative size"),
        ("meta parameters", lambda: topo.from_torch(mlp().to("meta"), torch.zeros(2, 3)), Target,
         "'0.weight' of Sequential is on the meta device"),
        ("a NaN weight", lambda: topo.audit(poisoned(0, "weight", (1, 2), float("nan"))), Param,
         r"non-finite value nan: parameter 0.weight\[1, 2\]"),
        ("an infinite bias", lambda: topo.audit(poisoned(2, "bias", 1, float("inf"))), Param,
         r"parameter 2.bias\[1\] \(edge '2.bias' -> '2.1'\)"),
        ("a NaN running variance", lambda: topo.audit(poisoned(1, "running_var", 2, float("nan"), conv),
                                                      example_input=(1, 3, 8, 8)),
         Param, r"parameter 0.weight\[2, 0\] .*folded with BatchNorm '1'"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_bad_torch_inputs_get_one_line_naming_the_problem(case):
    label, call, error, phrase = _torch_input_cases()[case]
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert re.search(phrase, message), (label, message)
    assert "\n" not in message and len(message) < 400, label


def test_an_import_that_cannot_fit_in_memory_says_so(monkeypatch):
    """Refused before the work when the model's weights alone do not fit (topo.LIMITS.max_memory), and
    a MemoryError during the import becomes one line naming the model (it was numpy's raw error)."""
    torch = pytest.importorskip("torch")
    import topo.nn.trace as trace
    from topo.utils.validation import LIMITS

    net = torch.nn.Sequential(torch.nn.Linear(1000, 1000), torch.nn.ReLU(), torch.nn.Linear(1000, 10))
    monkeypatch.setattr(LIMITS, "max_memory", 2**20)
    with pytest.raises(GraphError, match=r"importing Sequential \(1011010 parameters\) needs about 15.4 MiB"):
        topo.from_torch(net)
    monkeypatch.setattr(LIMITS, "max_memory", None)

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 1.08 GiB for an array with shape (145116675,) and data type float64")

    monkeypatch.setattr(trace, "_import", out_of_memory)
    with pytest.raises(GraphError, match=r"importing Sequential \(1011010 parameters\) ran out of memory "
                                         r"\(Unable to allocate 1.08 GiB"):
        topo.from_torch(net)


def test_an_example_input_may_be_an_array_or_a_shape_in_the_models_dtype():
    """A numpy array or a shape tuple is made a tensor of the model's floating dtype, so that a float64
    model imports from either (the audit's zeros of a shape were float32 and failed on it)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 2)).double().eval()
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8))
    ref = topo.from_torch(net, torch.from_numpy(x))
    for given in (x, x.astype(np.float32), (2, 3, 8, 8), torch.Size([1, 3, 8, 8])):
        imp = topo.from_torch(net, given)
        assert imp.architecture.edges == ref.architecture.edges
        np.testing.assert_array_equal(imp.theta, ref.theta)
    assert topo.audit(net, example_input=(1, 3, 8, 8)).report["network"]["n_params"] == ref.architecture.n_params


# ----------------------------------------------------------------------------- every scalar is declared
#: Public parameters that are numbers, flags or choices but have no constraint, and why.
UNDECLARED = {
    "Architecture.derived": {"key"},  # a cache key: an undeclared key is a KeyError naming the declared ones
    "Architecture.from_arrays": {"nodes"},  # the node names or their number: the constructor checks both kinds
}


def _public_callables():
    """Functions of ``topo.__all__`` and of the public subpackages, and public methods of their classes."""
    spaces = [topo] + [importlib.import_module(f"topo.{m}") for m in (
        "experiments", "report", "sampling", "symmetry", "varieties", "graph.generators", "graph.catalog", "plots")]
    out = {}
    for space in spaces:
        for name in space.__all__:
            obj = getattr(space, name)
            if inspect.isfunction(obj):
                out[obj.__qualname__] = obj
            elif inspect.isclass(obj) and not issubclass(obj, BaseException):
                for attr, member in vars(obj).items():
                    fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                    if inspect.isfunction(fn) and not attr.startswith("_"):
                        out[fn.__qualname__] = fn
    return out


_SCALARS = {"int", "float", "str", "bool"}


def _scalar_parameters(fn) -> set[str]:
    sig = inspect.signature(inspect.unwrap(fn))
    names = set()
    for name, p in sig.parameters.items():
        if name in ("self", "cls") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
        default = p.default
        if _SCALARS & {part.strip() for part in (annotation or "").split("|")} or (
                default is not inspect.Parameter.empty and isinstance(default, (bool, int, float, str))):
            names.add(name)
    return names


def test_public_functions_declare_their_scalar_arguments():
    missing = {}
    for qualname, fn in sorted(_public_callables().items()):
        declared = set(getattr(fn, "parameter_constraints", {}))
        undeclared = _scalar_parameters(fn) - declared - UNDECLARED.get(qualname, set())
        if undeclared:
            missing[qualname] = sorted(undeclared)
    assert not missing, f"public functions with numbers, flags or choices but no constraint: {missing}"


def test_decorated_functions_keep_their_signature_and_docstring():
    for key, (_, _, fn) in DECORATED.items():
        inner = inspect.unwrap(fn)
        assert inner is not fn and fn.__doc__ == inner.__doc__ and fn.__name__ == inner.__name__, key
        assert inspect.signature(fn) == inspect.signature(inner), key


# ----------------------------------------------------------------------------- no bare ValueError/TypeError
def test_no_bare_value_or_type_error_is_raised_in_topo():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in ("ValueError", "TypeError"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"bare ValueError/TypeError raised (use a TopoError subclass): {found}"


# ----------------------------------------------------------------------------- the command line
def _one_line_error(rc: int, err: str) -> None:
    assert rc == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert "Traceback" not in err


def test_cli_sample_one_exits_2_with_one_line():
    r = subprocess.run([sys.executable, "-m", "topo.cli", "audit", "--mlp", "2,3,1", "--sample", "1"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    _one_line_error(r.returncode, r.stderr)
    assert "--sample must be 0 (no sampled check) or at least 2 points, got 1" in r.stderr
    assert r.stdout == ""


def test_cli_sample_two_is_the_smallest_check(capsys):
    assert main(["audit", "--mlp", "2,3,1", "--sample", "2", "-q"]) == 0


# ----------------------------------------------------------------------------- hostile sizes and files
def test_a_huge_edge_is_refused_before_any_allocation(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "big.json"
    spec.write_text(json.dumps({"edges": [["x", "h", {"size": 1_000_000_000}], ["h", "y"]]}))
    monkeypatch.setattr(LIMITS, "max_memory", 2**30)  # the machine's free memory must not decide the test
    rc = main(["audit", str(spec), "-q"])
    _, err = capsys.readouterr()
    _one_line_error(rc, err)
    assert "edge ('x', 'h') alone has 1000000000 weights" in err and "topo.LIMITS.max_memory" in err
    yaml_spec = tmp_path / "big.yaml"
    yaml_spec.write_text("edges:\n  - [x, h, {size: 1000000000}]\n  - [h, y]\n")
    with pytest.raises(GraphError, match="a random initialisation of 1000000001 parameters"):
        topo.audit(str(yaml_spec))


def test_the_audit_checks_its_own_memory(monkeypatch):
    arch = topo.Architecture.from_edges([("x", "h", {"size": 2_000_000}), ("h", "y")])
    theta = np.ones(arch.n_params)
    monkeypatch.setattr(LIMITS, "max_memory", 100 * 2**20)  # 16 MB of theta fits, 64 B per parameter does not
    with pytest.raises(GraphError, match="an audit of 2000001 parameters .* needs about 122.1 MiB"):
        topo.audit(arch, theta)


def test_the_size_budget_names_the_limit_before_building(tmp_path, capsys):
    spec = tmp_path / "sum.json"
    spec.write_text(json.dumps({"edges": [["x", "h", {"size": 1_500_000_000}], ["h", "y", {"size": 1_500_000_000}]]}))
    rc = main(["audit", str(spec), "-q"])
    _, err = capsys.readouterr()
    _one_line_error(rc, err)
    assert "3000000000 parameters; the limit is 2000000000 (topo.LIMITS.max_params)" in err


_WRITE_UNDER_LIMIT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from topo.cli import main
sys.exit(main(["audit", "--mlp", "2,30,30,1", "--out", sys.argv[1], "-q"]))
"""


def test_a_write_over_the_file_size_limit_leaves_the_old_report_set_and_no_temporary_file(tmp_path):
    folder = tmp_path / "report"
    assert main(["audit", "--mlp", "2,3,1", "--out", str(folder), "-q"]) == 0
    before = topo.report.read_report_set(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    limit = 20_000  # the new report.json fits, its report.html does not
    assert max(len(b) for b in files.values()) < 5 * limit
    script = _WRITE_UNDER_LIMIT.format(limit=limit)
    r = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=300,
                       cwd=ROOT, env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1"})
    _one_line_error(r.returncode, r.stderr)
    assert "cannot write to" in r.stderr and "File too large" in r.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(files), "temporary files left behind"
    assert topo.report.read_report_set(folder) == before
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_bad_values_cover_the_edges_of_each_rule():
    from topo.utils.validation import COUNT, SEED, TOLERANCE, Options

    def reprs(constraint):
        return {repr(v) for v in constraint.bad_values()}

    assert {"0", "-1", "2.5", "True", "'1'", "nan", "None"} <= reprs(COUNT)
    assert {"-0.5", "nan", "inf", "True", "'oops'"} <= reprs(TOLERANCE)
    assert {"-1", "2.5", "'1'"} <= reprs(SEED) and "None" not in reprs(SEED)
    assert {"'no-such-option'", "'A'", "None"} <= reprs(Options("a", "b"))


def test_first_non_finite_against_the_definition():
    """The finite-sum shortcut never hides a bad entry: random vectors (huge entries whose sum
    overflows, NaN and both infinities at random positions, empty ones) against the first index
    where ``np.isfinite`` is False."""
    from topo.utils.validation import first_non_finite

    rng = np.random.default_rng(8080)
    for _ in range(400):
        n = int(rng.integers(0, 50))
        with np.errstate(over="ignore"):  # a product may overflow: one more infinity to find
            vec = rng.standard_normal(n) * 10.0 ** rng.integers(0, 309, n)
        for _ in range(int(rng.integers(0, 3))):
            if n:
                vec[int(rng.integers(n))] = rng.choice([np.nan, np.inf, -np.inf])
        bad = np.flatnonzero(~np.isfinite(vec))
        assert first_non_finite(vec) == (int(bad[0]) if len(bad) else None)
