"""``hal9 metrics --tpm``: exact IIT 3.0 of a binary network given by its TPM, logged to MLflow.

Input files (:func:`load_tpm`):

* ``.npy`` — the TPM, state-by-node ``(2**n, n)`` with LOLI rows, multidimensional ``(2,)*n + (n,)``, or
  state-by-state ``(2**n, 2**n)``;
* ``.csv`` / ``.txt`` — the same 2-D matrix as text (``numpy.loadtxt``, commas or whitespace);
* ``.json`` — ``{"tpm": [[...]], "cm": [[...]] (optional), "state": [...] (optional)}``.

The connectivity comes from ``--cm FILE`` (same formats), else from the JSON, else all-to-all. The state comes
from ``--state 1,0,0``, else from the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hal9.experiments._tracking import MlflowRef, log_run

__all__ = ["IITReportConfig", "format_iit", "load_tpm", "run_iit"]


class IITReportConfig(BaseModel):
    """What ``hal9 metrics --tpm`` computes.

    Attributes
    ----------
    tpm : Path
        TPM file (see the module docstring).
    cm : Path or None
        Connectivity file ``(n, n)`` of 0/1; ``None``: from the TPM's JSON or all-to-all.
    state : tuple of int or None
        The network's current state; ``None``: from the TPM's JSON.
    nodes : tuple of int or None
        The subsystem (default: every node).
    complexes : bool
        Also find every irreducible complex and the major complex (Φ of every subsystem).
    device : str
        Torch device of the computation (``"cpu"``, ``"cuda"``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tpm: Path
    cm: Path | None = None
    state: tuple[int, ...] | None = None
    nodes: tuple[int, ...] | None = None
    complexes: bool = False
    device: str = Field("cpu", description="torch device")

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        try:
            dev = torch.device(v)
        except RuntimeError as err:
            raise ValueError(f"not a torch device: {v!r} ({err})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("CUDA is not available on this machine")
        return v

    @field_validator("state")
    @classmethod
    def _binary(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is not None and any(x not in (0, 1) for x in v):
            raise ValueError(f"entries must be 0 or 1, got {list(v)}")
        return v


def _matrix(path: Path, what: str) -> np.ndarray:
    if not path.exists():
        raise ValueError(f"{what}: no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.asarray(np.load(path, allow_pickle=False), dtype=float)
    if suffix in (".csv", ".txt"):
        text = path.read_text()
        return np.atleast_2d(np.loadtxt(path, delimiter="," if "," in text else None, dtype=float))
    if suffix == ".json":
        data = json.loads(path.read_text())
        key = "cm" if what == "cm" else "tpm"
        if isinstance(data, dict) and key not in data:
            raise ValueError(f"{what}: the JSON file {path} has no {key!r} entry")
        return np.asarray(data[key] if isinstance(data, dict) else data, dtype=float)
    raise ValueError(f"{what}: unsupported file type {path.suffix!r} (use .npy, .csv, .txt or .json)")


def load_tpm(
    path: Path, cm_path: Path | None = None
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, ...] | None]:
    """Read a TPM file (and optionally a connectivity file): ``(tpm, cm or None, state or None)``."""
    tpm = _matrix(path, "tpm")
    cm: np.ndarray | None = None
    state: tuple[int, ...] | None = None
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            if data.get("cm") is not None:
                cm = np.asarray(data["cm"], dtype=float)
            if data.get("state") is not None:
                state = tuple(data["state"])
    if cm_path is not None:
        cm = _matrix(cm_path, "cm")
    return tpm, cm, state


def run_iit(
    cfg: IITReportConfig,
    *,
    outputs: Path | None = Path("outputs"),
    experiment: str | None = "hal9-metrics",
    tracking_uri: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Compute Φ (optionally the complexes), draw Φ over the cuts, log to MLflow; return a JSON-ready summary.

    The summary holds ``sia`` (:meth:`~hal9.metrics.iit.SystemIrreducibility.to_dict`), ``complexes`` (if
    asked), ``input`` (path, n, state, nodes), ``figures`` and ``mlflow``. MLflow gets the config as params,
    ``phi``, ``n_concepts``, ``sum_small_phi``, ``seconds`` (and ``major_complex_phi``) as metrics, and the
    figure and ``iit.json`` as artifacts.
    """
    from hal9.metrics.iit import IITNetwork, complexes, sia

    tpm, cm, file_state = load_tpm(cfg.tpm, cfg.cm)
    network = IITNetwork.from_tpm(
        torch.as_tensor(tpm), None if cm is None else torch.as_tensor(cm), device=cfg.device
    )
    state = cfg.state if cfg.state is not None else file_state
    if state is None:
        raise ValueError("state: give --state (e.g. 1,0,0) or a 'state' entry in the JSON file")
    res = sia(network, state, cfg.nodes)
    summary: dict[str, Any] = {
        "input": {"path": str(cfg.tpm), "n": network.size, "state": list(state), "nodes": list(res.nodes)},
        "sia": res.to_dict(),
    }
    metrics = {
        "phi": res.phi,
        "n_concepts": float(len(res.concepts)),
        "sum_small_phi": res.sum_small_phi,
        "seconds": res.seconds,
    }
    if cfg.complexes:
        cx = complexes(network, state, progress=progress)
        summary["complexes"] = cx.to_dict()
        metrics["major_complex_phi"] = cx.phi
    figures: list[Path] = []
    if outputs is not None:
        outputs.mkdir(parents=True, exist_ok=True)
        (outputs / "iit.json").write_text(json.dumps(summary, indent=2))
        figures.append(outputs / "iit.json")
        if res.cut is not None:
            from hal9.viz import plot_cut_phis, save_figure

            labels = [str(c) for c in res.cuts]
            best = res.cuts.index(res.cut)
            tied = [i for i, c in enumerate(res.cuts) if c in res.tied_cuts]
            figures.append(
                save_figure(
                    plot_cut_phis(res.cut_phis, labels, best=best, tied=tied), outputs / "iit_cuts.png"
                )
            )
    ml: MlflowRef | None = None
    if experiment is not None:
        params = cfg.model_dump(mode="json")
        ml = log_run(
            experiment,
            config=params,
            run_name="iit",
            tracking_uri=tracking_uri,
            metrics=metrics,
            artifacts=figures,
        )
    summary["mlflow"] = ml
    summary["figures"] = [str(f) for f in figures]
    return summary


def format_iit(summary: dict[str, Any]) -> str:
    """Human-readable lines of :func:`run_iit`'s summary."""
    s = summary["sia"]
    inp = summary["input"]
    lines = [
        f"hal9 metrics: {s['method']}",
        f"  input: {inp['path']} ({inp['n']} nodes), state {tuple(inp['state'])}",
    ]
    lines.append(f"  subsystem {tuple(s['nodes'])}: Φ = {s['phi']:.6g}")
    if s["cut"] is not None:
        ties = len(s["tied_cuts"])
        cut = f"{s['cut']['from']} -> {s['cut']['to']}"
        lines.append(f"  MIP cut {cut}" + (f" ({ties} cuts tie)" if ties > 1 else ""))
    else:
        lines.append(f"  no cut evaluated: {s['reason']}")
    lines.append(f"  {s['n_concepts']} concepts, Σφ = {s['sum_small_phi']:.6g}")
    for c in s.get("concepts", []):
        lines.append(
            f"    {tuple(c['mechanism'])}: φ = {c['phi']:.6g}  cause {tuple(c['cause']['purview'])} "
            f"{c['cause']['phi']:.6g}  effect {tuple(c['effect']['purview'])} {c['effect']['phi']:.6g}"
        )
    if "complexes" in summary:
        cx = summary["complexes"]
        major = cx["major"]
        lines.append(
            f"  complexes: {len(cx['complexes'])} of {cx['evaluated']} subsystems; major "
            + ("none" if major is None else f"{tuple(major['nodes'])} Φ = {major['phi']:.6g}")
        )
    lines.append(f"  {s['seconds']:.3f} s; evaluated {s['counts']}")
    lines.append(f"  figures: {', '.join(summary['figures']) or 'none'}")
    ml = summary["mlflow"]
    lines.append(
        "  MLflow: not logged"
        if ml is None
        else f"  MLflow: {ml['fallback_path'] or ml['tracking_uri'] + ' run ' + ml['run_id']}"
    )
    return "\n".join(lines)
