"""``hal9 metrics`` end to end (subprocess) and its input parsing."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hal9.cli.metrics import parse_partition
from hal9.experiments.metrics_report import WMS_NOTE, load_input
from tests.cli.conftest import run_hal9


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_hal9(["metrics", *args], cwd)


def test_feed_forward_pair_from_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "ff.npz", A=np.array([[0.0, 0.0], [0.8, 0.0]]), noise_cov=np.eye(2))
    proc = _run(["--input", "ff.npz", "--measure", "mi", "--measure", "wms", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    expected = 0.5 * math.log(1.64)  # I(X_{t-1}; X_t) of the feed-forward pair; Φ_WMS equals it
    assert out["measures"]["mi"]["value_nats"] == pytest.approx(expected, rel=1e-9)
    assert out["measures"]["wms"]["value_nats"] == pytest.approx(expected, rel=1e-9)
    assert out["measures"]["wms"]["partition"] == [[0], [1]]
    assert (tmp_path / "outputs" / "phi_wms_partitions.png").stat().st_size > 1000
    assert out["mlflow"]["fallback_path"] is None


def test_time_series_and_fixed_partition(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4))
    x[1:, 1] += 0.8 * x[:-1, 0]  # node 0 drives node 1
    np.save(tmp_path / "ts.npy", x)
    proc = _run(["--input", "ts.npy", "--partition", "0,1|2,3", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["input"] == {"kind": "time_series", "T": 3000, "n": 4, "path": "ts.npy"}
    assert out["measures"]["wms"]["method"] == "given"
    assert abs(out["measures"]["wms"]["value_nats"]) < 0.01  # no coupling across {0,1}|{2,3}
    assert 0.9 < out["lempel_ziv_mean"] < 1.1  # white-ish noise binarised at the median


def test_hierarchy_report(tmp_path: Path) -> None:
    proc = _run(["--hierarchy", "1500", "--steps", "120", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["boundaries"]) == 8
    assert out["boundaries"][0]["width_ratio"] == pytest.approx(
        out["boundaries"][0]["lower_size"] / out["boundaries"][0]["upper_size"]
    )
    assert len(out["cka"]) == 9 and out["cka"][0][0] == pytest.approx(1.0)
    assert set(out["lempel_ziv"]) == {f"L{k}" for k in range(1, 10)}
    assert out["input"]["noise"] == 0.5
    # noisy input: L1 activity is far less regular than the ~0.1 of the deterministic demo input
    # (τ = 10 leaky integration still smooths it below the white-noise value 1)
    assert out["lempel_ziv"]["L1"] > 0.25
    assert out["phi"] is not None and out["phi_error"] is None
    assert (tmp_path / "outputs" / "compression.png").exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--input", "missing.npy"], "does not exist"),
        (["--input", "ff.npz", "--partition", "0,1"], "--partition"),
        (["--input", "unstable.npz"], "A"),
        (["--hierarchy", "3"], "--hierarchy"),
    ],
)
def test_bad_input(args: list[str], match: str, tmp_path: Path) -> None:
    np.savez(tmp_path / "ff.npz", A=np.array([[0.0, 0.0], [0.8, 0.0]]))
    np.savez(tmp_path / "unstable.npz", A=np.array([[1.2, 0.0], [0.0, 0.5]]))
    proc = _run(args, tmp_path)
    assert proc.returncode == 2
    assert match in proc.stderr


def test_parsers(tmp_path: Path) -> None:
    assert parse_partition("0,2|1,3") == ((0, 2), (1, 3))
    assert parse_partition("0|1|2") == ((0,), (1,), (2,))  # K-part partitions (hal9.metrics takes them)
    assert parse_partition(None) is None
    for bad in ("0,1", "0||1", "a|b"):
        with pytest.raises(ValueError, match="--partition"):
            parse_partition(bad)
    np.savez(tmp_path / "bad.npz", B=np.eye(2))
    with pytest.raises(ValueError, match="must hold 'A'"):
        load_input(tmp_path / "bad.npz")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(ValueError, match=r"\.npy or \.npz"):
        load_input(tmp_path / "x.csv")


def test_wms_note_after_the_value_in_text_and_json(tmp_path: Path) -> None:
    """Φ_WMS can be negative: the text output says so right after the value, the JSON in ``notes``."""
    np.savez(
        tmp_path / "ff.npz", A=np.array([[0.4, 0.4], [0.4, 0.4]]), noise_cov=np.array([[1, 0.9], [0.9, 1]])
    )
    proc = _run(["--input", "ff.npz", "--measure", "wms", "--measure", "r"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["wms"])
    assert float(lines[at].split()[1]) < 0  # this system's Φ_WMS is negative (≈ −0.447 nats)
    assert lines[at + 1] == f"  note: {WMS_NOTE}"
    assert sum("note:" in line for line in lines) == 1
    proc = _run(["--input", "ff.npz", "--measure", "mi", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["notes"] == []
    proc = _run(["--input", "ff.npz", "--json"], tmp_path)
    assert json.loads(proc.stdout)["notes"] == [WMS_NOTE]


def test_three_part_partition_and_the_old_criterion_spelling(tmp_path: Path) -> None:
    a = np.array([[0.4, 0.1, 0.0], [0.2, 0.3, 0.1], [0.0, 0.2, 0.4]])
    np.savez(tmp_path / "s.npz", A=a)
    proc = _run(["--input", "s.npz", "--partition", "0|1|2", "--measure", "si", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["measures"]["si"]["partition"] == [[0], [1], [2]]
    proc = _run(["--input", "s.npz", "--criterion", "normalised", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--criterion normalised is deprecated; use --criterion normalized" in proc.stderr
    assert json.loads(proc.stdout)["measures"]["wms"]["normalized"] is not None


def _basic_files(tmp_path: Path) -> None:
    from hal9.metrics.iit.examples import basic_network

    net, state = basic_network()
    np.save(tmp_path / "basic.npy", net.tpm.numpy())
    np.savetxt(tmp_path / "cm.csv", net.cm.int().numpy(), delimiter=",", fmt="%d")
    doc = {"tpm": net.tpm.tolist(), "cm": net.cm.int().tolist(), "state": list(state)}
    (tmp_path / "basic.json").write_text(json.dumps(doc))


def test_exact_iit_of_a_tpm_file(tmp_path: Path) -> None:
    _basic_files(tmp_path)
    proc = _run(["--tpm", "basic.npy", "--cm", "cm.csv", "--state", "1,0,0", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["sia"]["phi"] == pytest.approx(2.3125, abs=1e-9)
    assert out["sia"]["cut"] == {"from": [1, 2], "to": [0]}
    assert out["sia"]["n_concepts"] == 4 and out["input"]["n"] == 3
    assert (tmp_path / "outputs" / "iit_cuts.png").stat().st_size > 1000
    assert json.loads((tmp_path / "outputs" / "iit.json").read_text())["sia"]["phi"] == out["sia"]["phi"]
    assert out["mlflow"]["run_id"] and out["mlflow"]["fallback_path"] is None


def test_exact_iit_from_json_with_complexes(tmp_path: Path) -> None:
    _basic_files(tmp_path)
    proc = _run(["--tpm", "basic.json", "--complexes"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Φ = 2.3125" in proc.stdout and "MIP cut [1, 2] -> [0]" in proc.stdout
    assert "complexes: 3 of 5 subsystems; major (0, 1, 2) Φ = 2.3125" in proc.stdout


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--state", "0,1,0"], "state: (0, 1, 0) cannot be reached"),
        (["--state", "1,0"], "state: expected 3 entries"),
        (["--state", "1,x,0"], "--state: expected comma-separated integers"),
        (["--state", "1,0,0", "--nodes", "0,5"], "nodes: indices must lie in [0, 3)"),
        (["--state", "1,0,0", "--device", "tpu9"], "not a torch device"),
    ],
)
def test_exact_iit_bad_input(args: list[str], match: str, tmp_path: Path) -> None:
    _basic_files(tmp_path)
    proc = _run(["--tpm", "basic.npy", *args], tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert match in proc.stderr


def test_exact_iit_json_without_a_tpm(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"cm": [[1]]}))
    proc = _run(["--tpm", "bad.json", "--state", "1"], tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert "tpm: the JSON file" in proc.stderr and "has no 'tpm' entry" in proc.stderr
