"""Where :mod:`hal9.experiments` sits: above the libraries, below ``cli`` and ``serve``; option lists once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import torch
from pydantic import ValidationError

from hal9.experiments.metrics_report import MetricsReportConfig, measure_integration
from hal9.experiments.options import criterion_names, kernel_names, literal_of, measure_names

HAL9 = Path(__file__).resolve().parents[2] / "hal9"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_experiments_import_neither_cli_nor_serve() -> None:
    for path in (HAL9 / "experiments").rglob("*.py"):
        bad = {m for m in _imports(path) if m.startswith(("hal9.cli", "hal9.serve"))}
        assert not bad, (path.name, bad)


def test_nothing_outside_cli_imports_cli() -> None:
    for path in HAL9.rglob("*.py"):
        if (HAL9 / "cli") in path.parents:
            continue
        bad = {m for m in _imports(path) if m == "hal9.cli" or m.startswith("hal9.cli.")}
        assert not bad, (str(path.relative_to(HAL9)), bad)


def test_import_hal9_does_not_import_experiments() -> None:
    probe = "import sys, hal9; print(any(m.startswith('hal9.experiments') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_names_come_from_their_declarations() -> None:
    from hal9.metrics import Criterion, Measure
    from hal9.selforg import KernelName

    assert measure_names()[: len(get_args(Measure))] == get_args(Measure)
    assert criterion_names() == get_args(Criterion)
    assert kernel_names() == get_args(KernelName)


def _cut_weight(a: torch.Tensor, noise_cov: torch.Tensor, partition: tuple[tuple[int, ...], ...]) -> float:
    """Σ |A_ij| over pairs in different parts: a toy measure to register."""
    label = {i: k for k, part in enumerate(partition) for i in part}
    n = a.shape[0]
    return float(sum(abs(a[i, j]) for i in range(n) for j in range(n) if label[i] != label[j]))


def test_a_registered_measure_is_offered_everywhere() -> None:
    pytest.importorskip("fastapi")
    from hal9.cli.main import _parser
    from hal9.metrics import register_measure, unregister_measure
    from hal9.serve.job_kinds import metrics_schema
    from hal9.serve.settings import JobLimits

    register_measure("cut", _cut_weight)
    try:
        assert measure_names()[-1] == "cut"
        args = _parser().parse_args(["metrics", "--input", "a.npz", "--measure", "cut"])
        assert args.measure == ["cut"]
        schema = metrics_schema(JobLimits())
        assert "cut" in schema.model_json_schema()["properties"]["measure"]["enum"]
        schema(A=[[0.5, 0.0], [0.2, 0.5]], measure="cut")  # accepted
        cfg = MetricsReportConfig(input="a.npz", measures=("cut",))
        a = torch.tensor([[0.5, 0.0, 0.1], [0.0, 0.5, 0.0], [0.2, 0.0, 0.5]], dtype=torch.float64)
        row = measure_integration({"A": a}, cfg.measures[0])
        assert row["partition"] == [[0, 2], [1]] and row["value_nats"] == 0.0  # no weight crosses {0,2}|{1}
    finally:
        unregister_measure("cut")
    assert "cut" not in measure_names()
    with pytest.raises(ValidationError, match="measures"):
        MetricsReportConfig(input="a.npz", measures=("cut",))


def test_cli_and_serve_offer_the_declared_names() -> None:
    from hal9.cli.main import _parser

    sub = next(a for a in _parser()._actions if a.dest == "command").choices  # type: ignore[attr-defined]
    options = {a.dest: a.choices for name in ("metrics", "organize") for a in sub[name]._actions}
    assert tuple(options["measure"]) == measure_names()
    assert tuple(options["criterion"]) == criterion_names()
    assert tuple(options["kernel"]) == kernel_names() == ("hal9", "gaussian")
    pytest.importorskip("fastapi")
    from hal9.serve.job_kinds import metrics_schema, organize_schema, tactical_schema
    from hal9.serve.settings import JobLimits
    from hal9.tactical import SCHEDULERS

    limits = JobLimits()
    props = metrics_schema(limits).model_json_schema()["properties"]
    assert props["measure"]["enum"] == list(measure_names())
    assert props["criterion"]["enum"] == list(criterion_names())
    assert organize_schema(limits).model_json_schema()["properties"]["kernel"]["enum"] == list(kernel_names())
    assert tactical_schema(limits).model_json_schema()["properties"]["scheduler"]["enum"] == list(SCHEDULERS)


def test_literal_of_needs_names() -> None:
    with pytest.raises(ValueError, match="names"):
        literal_of(())
