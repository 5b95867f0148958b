"""Report folders: ``report.json`` / ``report.md`` / ``report.html`` written as one atomic set
with a manifest, and read back with a check that the set is complete and of one run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from topo.errors import ParameterError, ReportError
from topo.report.html import render_html
from topo.report.text import render_markdown
from topo.utils.text import one_line
from topo.utils.validation import PATH, InstanceOf, NoneOr, Options, SequenceOf, validate_params

__all__ = ["write_report", "read_report_set", "MANIFEST", "REPORT_FORMATS", "FORMATS"]

#: File written for each report format.
REPORT_FORMATS = {"json": "report.json", "md": "report.md", "html": "report.html"}
#: The constraint of a ``formats`` argument: some of the report formats, e.g. ``("json", "md")``.
FORMATS = SequenceOf(Options(*REPORT_FORMATS))
_REPORT = InstanceOf(dict, name="a report dictionary (topo.audit(...).report)")
_FILES = REPORT_FORMATS
MANIFEST = "manifest.json"
_TEMP = re.compile(r"^\.(report\.(json|md|html)|manifest\.json)\..*\.tmp$")


def _render(report: dict, fmt: str, figures: dict | None) -> str:
    if fmt == "json":  # strict JSON (RFC 8259): an infinite gap ratio is written as the string "Infinity"
        return json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n"
    if fmt == "md":
        return render_markdown(report) + "\n"
    if fmt == "html":
        return render_html(report, figures) + "\n"
    raise ParameterError(f"unknown report format {fmt!r}; expected 'json', 'md' or 'html'")


def _json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by the string ``"Infinity"``,
    ``"-Infinity"`` or ``"NaN"`` (``json.dumps`` would write bare ``Infinity``, which
    strict JSON parsers reject)."""
    if isinstance(obj, float):
        if obj != obj:
            return "NaN"
        if obj in (float("inf"), float("-inf")):
            return "Infinity" if obj > 0 else "-Infinity"
        return obj
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """An exclusive ``flock`` on the folder itself (no lock file left behind); writers of
    one folder take turns, so a report set is never a mix of two runs."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock; the manifest still tells a mix apart
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_temp(folder: Path, name: str, data: bytes) -> Path:
    """``data`` in a new file ``.<name>.<random>.tmp`` of ``folder`` (created exclusively,
    with the permissions of a normal file under the umask)."""
    tmp = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


@validate_params(report=_REPORT, out_dir=PATH, formats=FORMATS, figures=NoneOr(InstanceOf(dict)))
def write_report(report: dict, out_dir: str | os.PathLike, *, formats: tuple[str, ...] = ("json", "md"),
                 figures: dict | None = None) -> list[Path]:
    """Write ``report.json`` / ``report.md`` / ``report.html`` into ``out_dir`` as one set.

    The set is atomic: every file is rendered first and written to a uniquely named
    temporary file in ``out_dir``; then, holding a lock on the folder, the old
    ``manifest.json`` is removed, the files are renamed into place, report files of
    formats not written this time are removed, and a new ``manifest.json`` (the run
    id and the SHA-256 of every file) is written last.  A folder with a manifest
    that matches its files holds one complete run ([`read_report_set`][topo.report.files.read_report_set] checks
    it); temporary files are removed on any failure, including Ctrl-C.

    ``figures`` (``{name: png bytes}``, see [`topo.plots.report_figures`][topo.report.plots.report_figures]) are
    embedded in the HTML page.

    Examples
    --------
    >>> import tempfile, topo
    >>> from topo.report import audit, read_report_set, write_report
    >>> arch = topo.Architecture.mlp([2, 2, 1])
    >>> folder = tempfile.mkdtemp()
    >>> [p.name for p in write_report(audit(arch, arch.init(seed=0)), folder)]
    ['report.json', 'report.md']
    >>> sorted(read_report_set(folder)["files"])
    ['report.json', 'report.md']
    """
    formats = tuple(dict.fromkeys(formats))
    texts = {_FILES.get(fmt, fmt): _render(report, fmt, figures).encode("utf-8") for fmt in formats}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    try:
        with _folder_lock(out):
            for stale in out.iterdir():  # left by a writer that was killed (all writers hold the lock)
                if _TEMP.match(stale.name):
                    stale.unlink(missing_ok=True)
            staged = []
            for name, data in texts.items():  # each temporary file is known as soon as it exists
                staged.append((name, _write_temp(out, name, data)))
                temps.append(staged[-1][1])
            (out / MANIFEST).unlink(missing_ok=True)  # from here until the end, the set is incomplete
            for name, tmp in staged:
                os.replace(tmp, out / name)
            for name in _FILES.values():
                if name not in texts:
                    (out / name).unlink(missing_ok=True)
            manifest = {
                "schema": "topo-report-set",
                "schema_version": 1,
                "run": uuid.uuid4().hex,
                "report": str(report.get("network", {}).get("name", "")),
                "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                          for name, data in texts.items()},
            }
            tmp = _write_temp(out, MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
            temps.append(tmp)
            os.replace(tmp, out / MANIFEST)
    finally:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return [out / name for name in texts]


@validate_params(error=ReportError, out_dir=PATH)
def read_report_set(out_dir: str | os.PathLike) -> dict:
    """The manifest of the report set in ``out_dir``, after checking that every file
    it lists is present with the recorded SHA-256 (one complete run, not a mix).

    Raises [`ReportError`][topo.errors.ReportError] naming what is missing or mismatched.
    """
    out = Path(out_dir)
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{one_line(str(out), 200)} holds no complete report set (no {MANIFEST}): "
                          "a write was interrupted or is in progress") from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"{one_line(str(out), 200)}/{MANIFEST} is unreadable: {one_line(str(exc), 100)}") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != "topo-report-set":
        raise ReportError(f"{one_line(str(out), 200)}/{MANIFEST} is not a topo report manifest")
    for name, meta in manifest.get("files", {}).items():
        try:
            data = (out / name).read_bytes()
        except OSError:
            raise ReportError(f"report set in {one_line(str(out), 200)} is incomplete: {name} is missing") from None
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise ReportError(f"report set in {one_line(str(out), 200)} is mixed: {name} is not the file "
                              f"of run {manifest.get('run')}")
    return manifest
