"""scripts/torch_index.sh: where `make install` takes torch from (TORCH_INDEX)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "torch_index.sh"
CPU = "--extra-index-url https://download.pytorch.org/whl/cpu"


def _run(
    tmp_path: Path, *args: str, nvidia: bool = False, wheel: bool = False
) -> subprocess.CompletedProcess:
    # A PATH with only the tools the script uses (plus a fake nvidia-smi when asked), no pip config files.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("sed", "tr"):
        target = shutil.which(tool)
        assert target is not None
        (bin_dir / tool).unlink(missing_ok=True)
        (bin_dir / tool).symlink_to(target)
    if nvidia:
        (bin_dir / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / "nvidia-smi").chmod(0o755)
    links = tmp_path / "wheels"
    links.mkdir(exist_ok=True)
    if wheel:
        (links / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    env = {
        "PATH": str(bin_dir),
        "PYTHON": sys.executable,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_FIND_LINKS": str(links),
        "HOME": str(tmp_path),
    }
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run([bash, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "nvidia", "wheel", "expected"),
    [
        ((), False, False, CPU),  # no driver, no local wheel: the CPU index
        (("auto",), True, False, ""),  # an NVIDIA driver: PyPI's CUDA build
        (("auto",), False, True, ""),  # a local torch wheel in find-links: keep it
        (("cpu",), True, True, CPU),
        (("default",), False, False, ""),
        (
            ("https://download.pytorch.org/whl/cu126",),
            False,
            False,
            "--extra-index-url https://download.pytorch.org/whl/cu126",
        ),
    ],
)
def test_torch_index_choice(tmp_path: Path, args: tuple, nvidia: bool, wheel: bool, expected: str) -> None:
    out = _run(tmp_path, *args, nvidia=nvidia, wheel=wheel)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_torch_index_refuses_an_unknown_choice(tmp_path: Path) -> None:
    out = _run(tmp_path, "gpu")
    assert out.returncode == 2
    assert "TORCH_INDEX must be auto, cpu, default or an index URL, got 'gpu'" in out.stderr
