"""hal9's exact IIT 3.0 against PyPhi 1.2.0.

* ``data/pyphi_iit3.json`` holds PyPhi 1.2.0's answers (made by ``scripts/pyphi_reference.py`` under PyPhi;
  its ``meta`` says with what) for the published examples and random deterministic and noisy networks of 3–5
  nodes: Φ of every cut, the MIP cut, every concept with its purviews, φ values and repertoires, and the
  complexes. These tests compare against it everywhere, CI included.
* ``test_live_against_pyphi`` (marker ``pyphi``) reruns PyPhi itself when ``HAL9_PYPHI_PYTHON`` names an
  interpreter that has it, and is skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch

from hal9.metrics.iit import IITNetwork, ces, complexes, sia

DATA = Path(__file__).parent / "data" / "pyphi_iit3.json"
ROOT = Path(__file__).resolve().parents[2]
ATOL = 1e-5


def _records(path: Path = DATA) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["networks"])


def _net(rec: dict[str, Any]) -> IITNetwork:
    return IITNetwork.from_tpm(torch.tensor(rec["tpm"], dtype=torch.float64), rec["cm"])


def _cut(c: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return tuple(c["from"]), tuple(c["to"])


def check_record(rec: dict[str, Any]) -> None:
    """Compare one network record of the reference data with hal9."""
    net = _net(rec)
    state = tuple(rec["state"])
    got = sia(net, state)
    ref = rec["sia"]
    assert got.phi == pytest.approx(ref["phi"], abs=ATOL), rec["name"]
    if ref["cuts"]:
        assert [(c.from_nodes, c.to_nodes) for c in got.cuts] == [_cut(c) for c in ref["cuts"]]
        for mine, theirs in zip(got.cut_phis, ref["cuts"], strict=True):
            assert mine == pytest.approx(theirs["phi"], abs=ATOL), rec["name"]
        ref_min = min(c["phi"] for c in ref["cuts"])
        ref_tied = [_cut(c) for c in ref["cuts"] if c["phi"] == ref_min]
        assert [(c.from_nodes, c.to_nodes) for c in got.tied_cuts] == ref_tied, rec["name"]
        assert got.cut is not None and (got.cut.from_nodes, got.cut.to_nodes) == _cut(ref["cut"])
    else:
        assert got.cut is None and got.reason is not None
    mine_concepts = {c.mechanism: c for c in ces(net, state)}
    theirs = {tuple(c["mechanism"]): c for c in rec["concepts"]}
    assert set(mine_concepts) == set(theirs), rec["name"]
    for mech, c in theirs.items():
        m = mine_concepts[mech]
        assert m.phi == pytest.approx(c["phi"], abs=ATOL)
        assert m.cause.phi == pytest.approx(c["cause_phi"], abs=ATOL)
        assert m.effect.phi == pytest.approx(c["effect_phi"], abs=ATOL)
        assert m.cause.purview == tuple(c["cause_purview"]), (rec["name"], mech)
        assert m.effect.purview == tuple(c["effect_purview"]), (rec["name"], mech)
        torch.testing.assert_close(
            m.cause.repertoire, torch.tensor(c["cause_repertoire"], dtype=torch.float64)
        )
        torch.testing.assert_close(
            m.effect.repertoire, torch.tensor(c["effect_repertoire"], dtype=torch.float64)
        )
        for mine_mice, key in ((m.cause, "cause_mip"), (m.effect, "effect_mip")):
            if key in c:  # PyPhi's first minimal partition in its order
                want = None if c[key] is None else tuple((tuple(a), tuple(b)) for a, b in c[key])
                assert mine_mice.mip == want, (rec["name"], mech, key)
    if "complexes" in rec:
        res = complexes(net, state)
        assert [c.nodes for c in res.complexes] == [tuple(c["nodes"]) for c in rec["complexes"]], rec["name"]
        got_cx = sorted((c.nodes, round(c.phi, 5)) for c in res.complexes)
        ref_cx = sorted((tuple(c["nodes"]), round(c["phi"], 5)) for c in rec["complexes"])
        assert [n for n, _ in got_cx] == [n for n, _ in ref_cx], rec["name"]
        for (_, a), (_, b) in zip(got_cx, ref_cx, strict=True):
            assert a == pytest.approx(b, abs=ATOL)
        major = rec["major_complex"]
        if major is None or not major["nodes"]:
            assert res.major is None
        else:
            assert res.major is not None and res.major.nodes == tuple(major["nodes"])
            assert res.major.phi == pytest.approx(major["phi"], abs=ATOL)


def test_reference_data_covers_the_issue() -> None:
    recs = _records()
    kinds = {r["kind"] for r in recs}
    assert kinds == {"example", "deterministic", "noisy"}
    assert {r["n"] for r in recs} >= {3, 4, 5}
    assert {r["name"] for r in recs} >= {"basic", "fig4", "xor", "rule110"}


@pytest.mark.parametrize("rec", _records(), ids=lambda r: r["name"])
def test_against_pyphi_reference(rec: dict[str, Any]) -> None:
    check_record(rec)


@pytest.mark.pyphi
def test_live_against_pyphi(tmp_path: Path) -> None:
    """Rerun PyPhi (``HAL9_PYPHI_PYTHON``) on the quick set and compare."""
    python = os.environ.get("HAL9_PYPHI_PYTHON")
    if not python:
        pytest.skip(
            "HAL9_PYPHI_PYTHON is not set (an interpreter with pyphi==1.2.0, see scripts/pyphi_reference.py)"
        )
    out = tmp_path / "live.json"
    subprocess.run(
        [python, str(ROOT / "scripts" / "pyphi_reference.py"), "--quick", "--out", str(out)],
        check=True,
        cwd=tmp_path,
        timeout=600,
    )
    for rec in _records(out):
        check_record(rec)
