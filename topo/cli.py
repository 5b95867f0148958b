"""The ``topo`` command line.

Exit codes: 0 success, 2 bad input (one-line message on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from topo.errors import TopoError, UsageError
from topo.utils.validation import LIMITS, one_line, short

__all__ = ["main"]

_EPILOG = """examples:
  topo audit --example shallow
  topo audit --mlp 2,8,1 --seed 3 --out audit/
  topo audit net.yaml --init xavier
  topo audit --torch topo.zoo:resnet18 --out audit/
  topo examples
  topo sweep sweep.yaml --scheduler tcp://127.0.0.1:8786 --out results.csv
"""


_MAX_SEED = 2**128


def _int_arg(flag: str, minimum: int = 0, maximum: int | None = None):
    """An argparse ``type`` for an integer flag with a range (``--seed -1`` is refused)."""

    def parse(text: str) -> int:
        t = text.strip()
        if not t or len(t) > 1000 or not t.lstrip("+-").isdigit() or not t.isascii():
            raise argparse.ArgumentTypeError(f"{flag} expects an integer, got {short(text)}")
        value = int(t)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{flag} must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{flag} must be <= {maximum}, got {value}")
        return value

    parse.__name__ = flag.lstrip("-").replace("-", "_")
    return parse


def _sample_arg():
    """The argparse ``type`` of ``--sample``: the rule of ``topo.audit(sample=...)``
    (`topo.report.build.SAMPLE`): 0 skips the check, else at least 2 points."""
    parse_int = _int_arg("--sample", 0, LIMITS.max_samples)

    def sample(text: str) -> int:
        from topo.report.build import SAMPLE
        from topo.sampling.verification import MIN_SAMPLES

        value = parse_int(text)
        if not SAMPLE.accepts(value):
            raise argparse.ArgumentTypeError(
                f"--sample must be 0 (no sampled check) or at least {MIN_SAMPLES} points, got {value}")
        return value

    return sample


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        # "argument --seed: --seed must be >= 0" -> "--seed must be >= 0"
        message = re.sub(r"^argument (\S+): (?=\1 )", "", message)
        raise UsageError(f"{self.prog}: {one_line(message, 300)}")




def _build_parser() -> argparse.ArgumentParser:
    from topo._version import __version__

    parser = _Parser(
        prog="topo",
        description="Audit the learning space of ReLU networks: conserved balances, bottlenecks, "
        "frozen edges and the exact number of connected components of the gradient-flow fiber.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"topo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    audit = sub.add_parser(
        "audit",
        help="analyse one network and write a report",
        description="Analyse one network at one parameter point: balances c = B~q(theta), bottleneck "
        "nodes and their regions, frozen edges with witnesses, and the number of connected components "
        "of the fiber {theta' : balances(theta') = c}. Give exactly one target: a spec file, --example, "
        "--mlp or --torch. A status line per stage goes to stderr (-q silences it).",
        epilog="The report schema is documented in docs/report.md.",
    )
    target = audit.add_argument_group("target (exactly one)")
    target.add_argument("spec", nargs="?", help="a JSON or YAML spec file (docs/spec.md)")
    target.add_argument("--example", metavar="NAME", help="a built-in example (see `topo examples`)")
    target.add_argument("--mlp", metavar="WIDTHS", help="a fully connected ReLU network, e.g. 2,8,1")
    target.add_argument(
        "--torch", metavar="MODULE:FACTORY",
        help="a PyTorch model: a callable returning a model or (model, example_input), e.g. topo.zoo:lenet; "
        "MODULE may be a module in the current folder or a .py file's path, e.g. mymodels.py:make "
        "(needs the torch extra)",
    )
    audit.add_argument("--weights", metavar="FILE",
                       help="with --torch: a state_dict saved by torch.save (read with weights_only=True)")
    audit.add_argument("--input-shape", metavar="SHAPE",
                       help="with --torch: shape of the example batch, e.g. 1,3,224,224 (overrides the "
                       "factory's example input)")
    audit.add_argument("--level", choices=["auto", "neuron", "channel"], default="auto",
                       help="with --torch: unit granularity (default auto: channels for convolutional models)")
    audit.add_argument("--no-bias", action="store_true", help="with --mlp: no bias units")
    params = audit.add_argument_group("parameters")
    params.add_argument(
        "--init", default="kaiming", choices=["kaiming", "xavier", "normal", "uniform"],
        help="random initialisation when the target has no weights (default: kaiming)",
    )
    params.add_argument("--seed", type=_int_arg("--seed", 0, _MAX_SEED - 1), default=0,
                        help="seed of the initialisation, an integer >= 0 (default: 0)")
    params.add_argument(
        "--random-weights", action="store_true",
        help="use a random initialisation even when the target has weights",
    )
    audit.add_argument(
        "--sample", type=_sample_arg(), metavar="N", default=0,
        help="also sample N >= 2 points of the fiber and check the number of components with persistent "
        "homology (bottleneck coordinates; 0 = skip, the default)",
    )
    output = audit.add_argument_group("output")
    output.add_argument("--out", metavar="DIR", help="write the report files into DIR (see --format)")
    output.add_argument("--history", metavar="FILE",
                        help="embed a balance history saved by topo.BalanceMonitor.save (a JSON file) in the report: "
                        "a 'history' section, with its drift figure in the HTML")
    output.add_argument(
        "--format", default="json,md,html",
        help="comma-separated report formats for --out: json, md, html (default all three)"
    )
    output.add_argument("--max-strata", type=_int_arg("--max-strata", 0, 10**9), default=20,
                        help="singular strata (single units cut off) searched and listed (default 20; 0 skips)")
    output.add_argument("--max-strata-work", type=_int_arg("--max-strata-work", 0, 10**15), default=None, metavar="N",
                        help="bound on the strata search in edge visits (default 20,000,000): the search stops, "
                        "incomplete and saying so, before a step that would exceed it")
    output.add_argument("--max-listed", type=_int_arg("--max-listed", 0, 10**9), default=200,
                        help="frozen edges, balances and free units listed in the report; counts are always complete "
                        "(default 200)")
    output.add_argument("--layers", action=argparse.BooleanOptionalAction, default=None,
                        help="print the per-layer table (type, output shape, parameters, constrained and free "
                        "units, balance range, frozen edges, prunable units); default: on for --torch models")
    output.add_argument("-q", "--quiet", action="store_true",
                        help="print nothing but errors (no summary, no status lines)")

    sub.add_parser("examples", help="list the built-in examples", description="List the built-in examples.")
    _add_sweep_parser(sub)
    return parser


def _parse_widths(text: str) -> list[int]:
    """``2,8,1`` (or ``2-8-1``) as ``[2, 8, 1]``; a sign, an empty entry or a non-integer is an error."""
    usage = "--mlp expects comma-separated positive integers like 2,8,1"
    t = text.strip()
    sep = "," if ("," in t or not re.fullmatch(r"\d+(-\d+)+", t)) else "-"
    tokens = [x.strip() for x in t.split(sep)]
    for tok in tokens:
        if not tok:
            raise UsageError(f"topo audit: {usage}, got an empty entry in {short(text)}")
        if tok.startswith("-") and tok[1:].isdigit():
            raise UsageError(f"topo audit: {usage}; widths must be positive, got {short(tok)} in {short(text)}")
        if not tok.isdigit() or not tok.isascii():
            raise UsageError(f"topo audit: {usage}, got {short(tok)} in {short(text)}")
        if len(tok) > 12:
            raise UsageError(f"topo audit: --mlp width {short(tok)} is too large (limit {LIMITS.max_nodes})")
    widths = [int(tok) for tok in tokens]
    if len(widths) < 2 or any(w < 1 for w in widths):
        raise UsageError(f"topo audit: --mlp expects at least two positive integers like 2,8,1, got {short(text)}")
    return widths


def _parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    if not formats:
        raise UsageError(f"topo audit: --format needs at least one of json, md, html, got {short(text)}")
    bad = [f for f in formats if f not in ("json", "md", "html")]
    if bad:
        raise UsageError(f"topo audit: unknown --format {short(bad[0])}; expected json, md, html")
    return formats


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line (types and ranges), before any work.

    Raises [`UsageError`][topo.errors.UsageError] with a one-line message; ``--help`` and
    ``--version`` exit through ``SystemExit(0)`` as usual.

    Examples
    --------
    >>> from topo.cli import parse_args
    >>> parse_args(["audit", "--mlp", "2,8,1", "--seed", "3"]).widths
    [2, 8, 1]
    >>> parse_args(["audit", "--mlp", "2,-8,1"])
    Traceback (most recent call last):
    ...
    topo.errors.UsageError: topo audit: --mlp expects comma-separated positive integers like 2,8,1; widths must be positive, got '-8' in '2,-8,1'
    """
    args = _build_parser().parse_args(argv)
    if args.command == "audit":
        args.widths = _parse_widths(args.mlp) if args.mlp is not None else None
        args.formats = _parse_formats(args.format)
        if args.out is not None and not args.out.strip():
            raise UsageError("topo audit: --out needs a folder name, got an empty string")
        given = [x for x in (args.spec, args.example, args.mlp, args.torch) if x is not None]
        if len(given) != 1:
            raise UsageError("topo audit: give exactly one target: a spec file, --example NAME, --mlp WIDTHS "
                             "or --torch MODULE:FACTORY")
        if args.spec is not None and not args.spec.strip():
            raise UsageError("topo audit: the spec file name is empty")
    return args


def _target(args):
    """``(target, options)`` for [`topo.audit`][topo.auditing.audit] from the command line: a spec path, an example
    name, widths, or a PyTorch model with its example input (the factory is called here)."""
    if args.weights is not None and args.torch is None:
        raise UsageError("topo audit: --weights goes with --torch")
    if args.input_shape is not None and args.torch is None:
        raise UsageError("topo audit: --input-shape goes with --torch")
    options = {"init": args.init, "seed": args.seed, "random_weights": args.random_weights}
    if args.torch is not None:
        model, example = _load_torch(args)
        factory = args.torch.rsplit(":", 1)[1]
        return model, options | {"example_input": example, "level": args.level, "state_dict": args.weights,
                                 "name": factory}
    if args.example is not None:
        from topo.graph import catalog

        if args.example not in catalog.EXAMPLES:
            try:
                catalog.get(args.example)
            except KeyError as exc:
                raise UsageError(f"topo audit: {exc.args[0]}") from None
        return args.example, options
    if args.mlp is not None:
        widths = args.widths if getattr(args, "widths", None) is not None else _parse_widths(args.mlp)
        return widths, options | {"bias": not args.no_bias}
    return args.spec, options


def _load_torch(args):
    """The model and example input named by ``--torch MODULE:FACTORY`` (and ``--input-shape``)."""
    spec = args.torch
    if ":" not in spec or not spec.rsplit(":", 1)[1]:
        raise UsageError(f"topo audit: --torch expects MODULE:FACTORY, e.g. topo.zoo:lenet or mymodels.py:make, "
                         f"got {short(spec)}")
    status = getattr(args, "_status", lambda stage: None)
    status("importing")
    try:
        import torch
    except ImportError:
        raise UsageError(
            "topo audit: --torch needs PyTorch: pip install torch, or pip install '.[torch]' from a topo checkout"
        ) from None
    shape = _parse_shape(args.input_shape) if args.input_shape is not None else None
    if args.weights is not None and not os.path.isfile(args.weights):
        raise UsageError(f"topo audit: cannot read weights file {args.weights!r}: no such file")
    model, example = _call_factory(_resolve_factory(spec), spec)
    if shape is not None:
        dtype = next((p.dtype for p in model.parameters()), torch.float32)
        example = torch.randn(shape, generator=torch.Generator().manual_seed(args.seed), dtype=dtype)
    return model, example


def _cli_words(text: str) -> str:
    """An import error in the words of the command line: ``--level channel``, not ``level='channel'``."""
    text = text.replace("level='channel'", "--level channel").replace("level='neuron'", "--level neuron")
    return text.replace("pass example_input", "give --input-shape").replace("need example_input", "need --input-shape")


def _one_line(exc) -> str:
    lines = [t.strip() for t in str(exc).strip().splitlines() if t.strip()]
    return lines[0] if lines else type(exc).__name__


def _user_failure(exc: BaseException) -> str:
    """``Type: first line`` of an exception the user's module or factory raised, with a hint when it is
    torchvision's compiled operators failing to load (a torchvision built for another torch:
    ``operator torchvision::nms does not exist``)."""
    text = f"{type(exc).__name__}: {_one_line(exc)}"
    if "torchvision::" not in str(exc):
        return text
    version = getattr(sys.modules.get("torch"), "__version__", "this torch")
    return (f"{text} (torchvision's compiled operators do not load: it was built for another torch than {version};"
            " install the torchvision release made for this torch)")


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        shape = ()
    if len(shape) < 2 or any(d < 1 for d in shape):
        raise UsageError(f"topo audit: --input-shape expects positive integers (batch first) like 1,3,224,224, "
                          f"got {text!r}")
    return shape


def _resolve_factory(spec: str):
    """``MODULE:FACTORY`` -> the callable; MODULE is a module name (looked up in the current
    folder too) or the path of a ``.py`` file (``mymodels.py:make``, ``models/net.py:make``)."""
    import importlib

    mod_name, fn_name = spec.rsplit(":", 1)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = _module_from_file(mod_name) if mod_name.endswith(".py") else importlib.import_module(mod_name)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - ImportError, or the module itself raising
        raise UsageError(f"topo audit: cannot load {short(spec)}: {_user_failure(exc)}") from None
    try:
        factory = getattr(module, fn_name)
    except AttributeError:
        raise UsageError(f"topo audit: cannot load {spec!r}: module {mod_name!r} has no attribute {fn_name!r}") \
            from None
    if not callable(factory):
        raise UsageError(f"topo audit: {spec!r} is a {type(factory).__name__}, not a callable returning a model")
    return factory


def _module_from_file(path: str):
    """The module of a ``.py`` file, run under a private name (its folder importable for its own imports)."""
    import importlib.util

    if not os.path.isfile(path):
        raise UsageError(f"topo audit: --torch names the file {short(path)}, which does not exist")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = "_topo_user_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    spec.loader.exec_module(module)
    return module


def _call_factory(factory, spec: str):
    import torch

    try:
        made = factory()
    except Exception as exc:  # noqa: BLE001 - the user's factory failed
        raise UsageError(f"topo audit: {spec}() raised {_user_failure(exc)}") from None
    model, example = made if isinstance(made, tuple) and len(made) == 2 else (made, None)
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"topo audit: {spec}() returned a {type(model).__name__}, not a torch.nn.Module "
                          "(or a pair (model, example_input))")
    if example is not None and not isinstance(example, torch.Tensor):
        raise UsageError(f"topo audit: {spec}() returned an example input of type {type(example).__name__}, "
                          "not a torch.Tensor")
    return model, example


class _Status:
    """One line per stage on stderr with the elapsed time (silenced by ``-q``)."""

    _TEXT = {
        "importing": "importing {target}",
        "tracing": "tracing the model into a graph",
        "connectivity": "connectivity (balances, bottlenecks, frozen edges, components)",
        "symmetry": "components up to symmetry (automorphism group)",
        "strata": "singular strata",
        "sampling": "sampling {sample} fiber points (persistent homology)",
        "writing": "writing the report to {out}",
    }

    def __init__(self, args):
        import time

        self.quiet = args.quiet
        self.clock = time.perf_counter
        self.start = self.clock()
        self.fields = {"target": one_line(str(args.torch), 200), "sample": args.sample,
                       "out": one_line(str(args.out), 200)}  # user text: no control characters on the terminal

    def __call__(self, stage: str) -> None:
        if not self.quiet:
            text = self._TEXT.get(stage, stage).format(**self.fields)
            print(f"topo: {self.clock() - self.start:5.1f} s  {text}", file=sys.stderr, flush=True)

    def done(self) -> None:
        if not self.quiet:
            print(f"topo: {self.clock() - self.start:5.1f} s  done", file=sys.stderr, flush=True)


def _check_out(out: str | None) -> None:
    """``--out`` must name a folder or nothing yet: refused before any work (not after the analysis)."""
    if out is not None and os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"topo audit: --out {short(out)} is an existing file; give a folder for the report")


def _load_history(path: str | None):
    """``--history FILE``: checked before any work (a file that is not a history is a usage error);
    the path, which `topo.audit` reads into the report."""
    if path is None:
        return None
    from topo.nn.monitor_records import load_history

    if not path.strip():
        raise UsageError("topo audit: --history needs a file name, got an empty string")
    try:
        load_history(path)
        return path
    except TopoError as exc:
        raise UsageError(f"topo audit: --history: {_one_line(exc)}") from None


def _cmd_audit(args) -> int:
    from topo.auditing import audit, load_target

    _check_out(args.out)
    history = _load_history(args.history)
    formats = args.formats if getattr(args, "formats", None) else _parse_formats(args.format)
    status = _Status(args)
    args._status = status
    target, options = _target(args)
    name = options.pop("name", None)
    try:
        loaded = load_target(target, progress=status, **options)
    except TopoError as exc:
        if args.torch is None:
            raise
        raise UsageError("topo audit: " + _cli_words(_one_line(exc))) from None
    source = parameters = None
    if args.torch is not None:
        source = f"PyTorch model {args.torch} ({loaded.level} level)"
        if not args.random_weights:
            parameters = "weights of the model" + (f" from {args.weights}" if args.weights else "")
    result = audit(loaded, name=name, source=source, parameters=parameters, max_listed=args.max_listed,
                   sample=args.sample, seed=args.seed, max_strata=args.max_strata,
                   max_strata_work=args.max_strata_work, progress=status,
                   progress_bars=False if args.quiet else None, history=history)
    if not args.quiet:
        layers = args.layers if args.layers is not None else args.torch is not None
        print(result.summary(layers=layers), flush=True)
    if args.out:
        status("writing")
        try:
            paths = result.save(args.out, formats=formats)
            if getattr(result, "figure_error", None) and not args.quiet:
                print(f"topo: warning: figures not drawn ({one_line(result.figure_error, 150)})", file=sys.stderr)
        except OSError as exc:
            raise UsageError(f"topo audit: cannot write to {short(args.out)}: {exc.strerror or exc}") from None
        if not args.quiet:
            print("wrote " + ", ".join(one_line(str(p)) for p in paths))
    status.done()
    return 0


def _cmd_examples(args) -> int:
    from topo.graph import catalog

    for name in sorted(catalog.EXAMPLES):
        ex = catalog.get(name)
        print(f"{name:14s} {ex.description}")
    return 0


def _add_sweep_parser(sub) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="run an experiment sweep from a config file (serially or on a Dask cluster)",
        description="Run one of the experiments (obstruction, pathological, regularizer, optimizers) as "
        "described by a JSON/YAML config file: an 'experiment' key and the sweep's keyword arguments "
        "(docs/experiments.md). Results are identical serially and on Dask.",
    )
    sweep.add_argument("config", help="a JSON or YAML config file")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="a Dask scheduler, e.g. tcp://127.0.0.1:8786 (needs the dask extra); default: serial")
    sweep.add_argument("--out", metavar="FILE", help="write the table to FILE (.csv or .json)")
    sweep.add_argument("--progress", action="store_true", help="show a progress bar")
    sweep.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def _cmd_sweep(args) -> int:
    import json

    from topo.experiments import read_config, run_config

    out = args.out
    if out is not None and not out.endswith((".csv", ".json")):
        raise UsageError(f"topo sweep: --out must end in .csv or .json, got {out!r}")
    progress = False if args.quiet else (args.progress or None)
    result = run_config(read_config(args.config), client=args.scheduler, progress=progress)
    table = getattr(result, "table", result)
    records = table.to_dict("records") if hasattr(table, "to_dict") else list(table)
    if not args.quiet:
        if hasattr(table, "to_string"):
            print(table.to_string(index=False))
        else:
            for rec in records:
                print(rec)
        if hasattr(result, "summary"):
            print(result.summary())
    if out is not None:
        try:
            if out.endswith(".json"):
                payload = result.to_dict() if hasattr(result, "table") else {"table": records}
                with open(out, "w") as fh:
                    json.dump(payload, fh, indent=2, default=float)
            else:
                import csv

                with open(out, "w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=list(records[0]) if records else [])
                    writer.writeheader()
                    writer.writerows(records)
        except OSError as exc:
            raise UsageError(f"topo sweep: cannot write {out!r}: {exc.strerror or exc}") from None
        if not args.quiet:
            print(f"wrote {out}")
    return 0


def _warning_line(quiet: bool):
    """A ``warnings.showwarning`` for the terminal: one plain line ``topo: warning: ...``
    (no file name, no source line); nothing with ``-q``."""

    def show(message, category, filename, lineno, file=None, line=None):
        if not quiet:
            print(f"topo: warning: {one_line(str(message), 400)}", file=sys.stderr, flush=True)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``topo`` console script."""
    import warnings

    with warnings.catch_warnings():
        warnings.showwarning = _warning_line(False)
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    import warnings

    try:
        args = parse_args(argv)
        warnings.showwarning = _warning_line(bool(getattr(args, "quiet", False)))
        if args.command is None:
            _build_parser().print_help()
            return 2
        if args.command == "audit":
            return _cmd_audit(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        return _cmd_examples(args)
    except UsageError as exc:
        print(one_line(str(exc), 1000), file=sys.stderr)
        return 2
    except TopoError as exc:
        print(f"topo: error: {one_line(str(exc), 1000)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `topo audit ... | head`: stop quietly
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:  # pragma: no cover
        print("topo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
