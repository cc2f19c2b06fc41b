"""One error style on the command line: one line naming the flag as typed, exit status 2, before any work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hal9.cli.main import main


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAL9_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("HAL9_DEBUG", raising=False)
    (tmp_path / "text.npy").write_text("hello\n")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "whole.npz", A=np.eye(3) * 0.5)
    (tmp_path / "cut.npz").write_bytes((tmp_path / "whole.npz").read_bytes()[:40])  # a truncated archive
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["demo", "--device", "tpu"],
            "hal9 demo: error: --device: device must be 'cpu' or 'cuda[:i]', got 'tpu'",
        ),
        (
            ["organize", "--device", "tpu"],
            "hal9 organize: error: --device: device must be 'cpu' or 'cuda[:i]'",
        ),
        (
            ["organize", "--k", "0"],
            "hal9 organize: error: --k: Input should be greater than or equal to 1, got 0",
        ),
        (
            ["organize", "--layers", "12"],
            "hal9 organize: error: --layers: Input should be less than or equal to 9",
        ),
        (["tactical", "simulate", "--units", "0"], "hal9 tactical: error: --units: Input should be greater"),
        (
            ["metrics", "--hierarchy", "3"],
            "hal9 metrics: error: --hierarchy: Input should be greater than or equal",
        ),
        (["metrics", "--input", "text.npy"], "--input: text.npy is not a NumPy .npy file"),
        (["metrics", "--input", "objects.npy"], "--input: objects.npy holds Python objects (pickled)"),
        (["metrics", "--input", "cut.npz"], "--input: cut.npz could not be read"),
        (
            ["demo", "--neurons", "10000000000"],
            "hal9 demo: error: building this network needs about 8376.2 GiB",
        ),
        (
            ["demo", "--tracking-uri", "bogus://x"],
            "hal9 demo: error: --tracking-uri: 'bogus://x' cannot be used",
        ),
        (
            ["demo", "--outputs", "/proc/hal9-nope"],
            "hal9 demo: error: --outputs: cannot write to '/proc/hal9-nope'",
        ),
    ],
)
def test_one_line_naming_the_flag_and_status_2(
    argv: list[str], expected: str, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1, err  # one line, no traceback, no pydantic dump
    assert not list(in_tmp.glob("outputs/**/*.png"))  # nothing was computed


def test_a_cuda_device_beyond_the_machine_is_named(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for argv in (["demo"], ["organize"], ["tactical", "simulate"]):
        assert main([*argv, "--device", f"cuda:{count}"]) == 2
        err = capsys.readouterr().err
        assert f"--device: device 'cuda:{count}' requested but" in err and err.count("\n") == 1


def test_hal9_debug_shows_the_traceback(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAL9_DEBUG", "1")
    with pytest.raises(ValueError, match="building this network needs"):
        main(["demo", "--neurons", "10000000000"])


def test_the_hal9_command_defaults_omp_to_passive_without_overriding_the_user() -> None:
    exe = shutil.which("hal9", path=str(Path(sys.executable).parent))
    if exe is None:  # pragma: no cover - the console script is installed with the package
        pytest.skip("the hal9 console script is not installed next to this python")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([exe, "version", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert '"omp_wait_policy": "PASSIVE"' in out.stdout
    out = subprocess.run(
        [exe, "version", "--json"], env={**env, "OMP_WAIT_POLICY": "ACTIVE"}, capture_output=True, text=True
    )
    assert '"omp_wait_policy": "ACTIVE"' in out.stdout
    # importing hal9 from Python leaves the environment alone
    probe = "import os, hal9; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "None"


def test_a_folder_store_is_refused_up_front_exactly_when_mlflow_refuses_it(in_tmp: Path) -> None:
    from mlflow import MlflowClient

    from hal9.tracking import check_tracking_uri

    try:
        MlflowClient(tracking_uri=str(in_tmp / "mlruns"))
    except Exception:  # MLflow 3 refuses the folder store unless MLFLOW_ALLOW_FILE_STORE=true
        with pytest.raises(ValueError, match="cannot be used: The filesystem tracking backend"):
            check_tracking_uri(str(in_tmp / "mlruns"))
    else:
        check_tracking_uri(str(in_tmp / "mlruns"))
    check_tracking_uri("http://127.0.0.1:1")  # unreachable, not refused: the run falls back
    assert not (in_tmp / "mlflow.db").exists()
    check_tracking_uri(None)  # the default sqlite store: accepted without creating it
    assert not (in_tmp / "mlflow.db").exists()


def test_the_outputs_check_leaves_nothing_behind(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--device", "tpu", "--outputs", "new/deep/figs"]) == 2
    assert not (in_tmp / "new").exists()  # created for the write check, then removed
    (in_tmp / "file").write_text("x")
    assert main(["demo", "--outputs", "file/figs"]) == 2
    assert "--outputs: cannot write to 'file/figs'" in capsys.readouterr().err
