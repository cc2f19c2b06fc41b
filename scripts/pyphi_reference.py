"""Reference results of PyPhi 1.2.0 (exact IIT 3.0) for hal9's tests, written as one JSON file.

This script runs ONLY under a separate PyPhi 1.2.0 environment; it never imports hal9, and hal9's tests
read its output (``tests/metrics/data/pyphi_iit3.json``) without PyPhi being installed.

Making the environment (PyPhi 1.2.0 predates Python 3.10, hence the shim below)::

    python3.11 -m venv /work/pyphi_env/venv
    /work/pyphi_env/venv/bin/pip install pyphi==1.2.0
    # pulls numpy (2.x works), scipy, pyemd (1.1), joblib, psutil, pyyaml, redis, tqdm, ...

PyPhi 1.2.0 uses ``collections.Iterable`` and friends, removed in Python 3.10; the shim restores them
before ``import pyphi`` (it is inlined below as :func:`_install_shim`, so this file is self-contained)::

    import collections, collections.abc
    for _n in ("Iterable", "Sequence", "Mapping", "MutableMapping", "Hashable", "Callable", "Set",
               "Sized", "Container"):
        setattr(collections, _n, getattr(collections.abc, _n))
    import os
    os.environ.setdefault("PYPHI_WELCOME_OFF", "yes")

Usage (from the hal9 repository root)::

    OMP_NUM_THREADS=1 /work/pyphi_env/venv/bin/python scripts/pyphi_reference.py \
        --out tests/metrics/data/pyphi_iit3.json [--quick]

``--quick`` keeps only the published examples and the 3-node random networks.

Configuration: PyPhi's defaults (MEASURE=EMD, PARTITION_TYPE=BI, SYSTEM_CUTS=3.0_STYLE, PRECISION=6),
with progress bars and every kind of parallelism off. PyPhi writes ``pyphi.log`` and creates a joblib
``__pyphi_cache__`` folder in the current directory *at import time*, and reads ``pyphi_config.yml`` from
there; so the script changes into a fresh temporary directory before importing PyPhi and deletes that
directory at the end. ``CACHE_SIAS`` is False (PyPhi's default), so no result is ever read from or written
to the disk cache; only the in-memory caches of each Network/Subsystem object are used.

Conventions of the JSON file:

* ``tpm``: state-by-node, 2^n rows x n columns; row index in LOLI order (bit i of the row index is the state
  of node i at t-1), entry [r][j] = P(node j is on at t | state r at t-1). This is PyPhi's 2-D convention.
* ``cm``: n x n 0/1 lists, cm[i][j] = 1 means an edge i -> j.
* repertoires: flattened over the purview's nodes only, LOLI order as well (index = sum_k s_k << k, k running
  over the purview's nodes in increasing node order).
* ``sia.cut`` is null when PyPhi short-cuts to Φ = 0 (``sia.reason`` then says why and ``sia.cuts`` is []);
  ``major_complex`` is {"nodes": [], "phi": 0.0} when there is no irreducible complex; ``complexes`` and
  ``major_complex`` are omitted if ``pyphi.compute.complexes`` passes 120 s. ``complexes_seconds`` and
  ``record_seconds`` (the whole record) are wall times like ``sia.seconds``.

Random networks (``kind`` "deterministic" or "noisy"), all drawn from ``numpy.random.default_rng(seed)``
with ``seed = 1000 * n + 100 * (kind == "noisy") + i`` (i = 0, 1, ...), in this order:

1. connectivity: for each node j = 0..n-1, a number of inputs k ~ uniform{1..max_inputs} (max_inputs =
   min(n, 3), except 2 for the noisy 5-node networks, whose records would take 60-95 s each with 3), then
   k distinct inputs drawn from all n nodes (self-loops allowed); this is redrawn (continuing the same
   generator) until the network is strongly connected, except for the last seed of each 3-node group,
   which is redrawn until it is NOT (so that PyPhi's "not strongly connected" shortcut, Φ = 0 without
   cuts, is covered);
2. node functions: for each node j, one value per pattern of its inputs (the pattern index is
   sum_b s_{input_b} << b with the inputs in increasing order): a fair random bit ("deterministic") or
   round(uniform[0, 1), 3) ("noisy");
3. state: uniform random 0/1 n-tuple, redrawn until PyPhi accepts it (no StateUnreachableError).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

#: Expected whole-system Φ (and MIP cut, where the brief fixes it) of the published examples.
EXPECTED_EXAMPLES: dict[str, tuple[float, tuple[list[int], list[int]] | None]] = {
    "basic": (2.3125, ([1, 2], [0])),
    "fig4": (1.916665, ([0, 1], [2])),
    "xor": (1.875, None),
    "rule110": (1.35708, None),
}

#: Tolerance on those published values: they are quoted to 6 decimals, and PyPhi 1.2.0 rounds every small phi
#: and every Φ to 6 decimals (fig4 gives 1.916666 here, 1.916665 in PyPhi's documentation).
EXPECTED_TOL = 1e-5

#: Wall-clock limit for ``pyphi.compute.complexes`` on one network; past it the key is omitted.
COMPLEXES_LIMIT_S = 120.0

Json = dict[str, Any]


def _install_shim() -> None:
    """Restore the ``collections`` aliases PyPhi 1.2.0 needs on Python >= 3.10; silence its banner."""
    import collections
    import collections.abc

    for name in (
        "Iterable",
        "Sequence",
        "Mapping",
        "MutableMapping",
        "Hashable",
        "Callable",
        "Set",
        "Sized",
        "Container",
    ):
        setattr(collections, name, getattr(collections.abc, name))
    os.environ.setdefault("PYPHI_WELCOME_OFF", "yes")


# --------------------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------------------


def _loli_states(n: int) -> Iterator[tuple[int, ...]]:
    """Yield the 2^n states of n binary nodes in LOLI order (node 0 is the fastest-changing bit)."""
    for r in range(2**n):
        yield tuple((r >> i) & 1 for i in range(n))


def _tpm_from_logic(n: int, funcs: list[Any]) -> np.ndarray:
    """Build a state-by-node TPM (LOLI rows) from per-node functions of the whole previous state."""
    return np.array([[float(f(s)) for f in funcs] for s in _loli_states(n)])


def _off_diagonal(n: int) -> np.ndarray:
    """Return the all-to-all connectivity matrix without self-loops."""
    return np.ones((n, n), dtype=int) - np.eye(n, dtype=int)


def example_networks() -> list[Json]:
    """Recreate the four published example networks from their logic (TPM, cm, state)."""
    # basic: A = OR(B, C), B = COPY(C), C = XOR(A, B).
    basic_tpm = _tpm_from_logic(3, [lambda s: s[1] | s[2], lambda s: s[2], lambda s: s[0] ^ s[1]])
    basic_cm = np.zeros((3, 3), dtype=int)
    for i, j in [(0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]:
        basic_cm[i, j] = 1
    # fig4 (IIT 3.0 paper, Fig. 4): A = OR(B, C), B = AND(A, C), C = XOR(A, B).
    fig4_tpm = _tpm_from_logic(3, [lambda s: s[1] | s[2], lambda s: s[0] & s[2], lambda s: s[0] ^ s[1]])
    # xor: every node is the XOR of the other two.
    xor_tpm = _tpm_from_logic(3, [lambda s: s[1] ^ s[2], lambda s: s[0] ^ s[2], lambda s: s[0] ^ s[1]])

    # rule110: 3-cell ring, new s_i = bit (4 * s_{i-1} + 2 * s_i + s_{i+1}) of 110.
    def rule110(i: int) -> Any:
        return lambda s: (110 >> (4 * s[(i - 1) % 3] + 2 * s[i] + s[(i + 1) % 3])) & 1

    rule110_tpm = _tpm_from_logic(3, [rule110(i) for i in range(3)])
    return [
        {"name": "basic", "tpm": basic_tpm, "cm": basic_cm, "state": (1, 0, 0)},
        {"name": "fig4", "tpm": fig4_tpm, "cm": _off_diagonal(3), "state": (1, 0, 0)},
        {"name": "xor", "tpm": xor_tpm, "cm": _off_diagonal(3), "state": (0, 0, 0)},
        {"name": "rule110", "tpm": rule110_tpm, "cm": np.ones((3, 3), dtype=int), "state": (0, 0, 0)},
    ]


def check_examples_against_pyphi(pyphi: Any, examples: list[Json]) -> None:
    """Assert that the recreated examples equal ``pyphi.examples``' networks (TPM and cm)."""
    theirs = {
        "basic": pyphi.examples.basic_network(),
        "fig4": pyphi.examples.fig4(),
        "xor": pyphi.examples.xor_network(),
        "rule110": pyphi.examples.rule110_network(),
    }
    for ex in examples:
        ref = theirs[ex["name"]]
        ref_2d = pyphi.convert.to_2dimensional(np.asarray(ref.tpm))
        assert np.array_equal(ref_2d, ex["tpm"]), f"{ex['name']}: TPM differs from pyphi.examples"
        assert np.array_equal(np.asarray(ref.cm), ex["cm"]), f"{ex['name']}: cm differs from pyphi.examples"
        mine = pyphi.Network(ex["tpm"], cm=ex["cm"])
        assert np.array_equal(np.asarray(mine.tpm), np.asarray(ref.tpm)), f"{ex['name']}: n-D TPM differs"


def _strongly_connected(cm: np.ndarray) -> bool:
    """Return whether the directed graph ``cm`` (i -> j where cm[i, j]) is strongly connected."""
    n = cm.shape[0]
    reach = (cm > 0) | np.eye(n, dtype=bool)
    for k in range(n):  # Warshall's transitive closure
        reach = reach | (reach[:, [k]] & reach[[k], :])
    return bool(reach.all())


def random_network(pyphi: Any, n: int, kind: str, seed: int, max_inputs: int, strong: bool) -> Json:
    """Draw one random network and a state PyPhi accepts (see the module docstring for the recipe)."""
    rng = np.random.default_rng(seed)
    while True:
        inputs: list[list[int]] = []
        cm = np.zeros((n, n), dtype=int)
        for j in range(n):
            k = int(rng.integers(1, max_inputs + 1))
            inp = sorted(int(x) for x in rng.choice(n, size=k, replace=False))
            inputs.append(inp)
            cm[inp, j] = 1
        if _strongly_connected(cm) == strong:  # strong=False asks for a NOT strongly connected one
            break
    tpm = np.zeros((2**n, n))
    for j in range(n):
        size = 2 ** len(inputs[j])
        table = (
            rng.integers(0, 2, size).astype(float) if kind == "deterministic" else rng.random(size).round(3)
        )
        for r, s in enumerate(_loli_states(n)):
            tpm[r, j] = table[sum(s[i] << b for b, i in enumerate(inputs[j]))]
    network = pyphi.Network(tpm, cm=cm)
    for _ in range(10_000):
        state = tuple(int(x) for x in rng.integers(0, 2, n))
        try:
            pyphi.Subsystem(network, state)
        except pyphi.exceptions.StateUnreachableError:
            continue
        break
    else:  # pragma: no cover - every TPM reaches some state
        raise RuntimeError(f"no reachable state for seed {seed}")
    prefix = "det" if kind == "deterministic" else "noisy"
    return {"name": f"{prefix}{n}_s{seed}", "tpm": tpm, "cm": cm, "state": state, "kind": kind, "seed": seed}


def random_specs(quick: bool) -> list[tuple[int, str, int, int, bool]]:
    """Return (n, kind, seed, max_inputs, strongly_connected) for every random network to draw."""
    plan = [(3, 4), (4, 4), (5, 2)] if not quick else [(3, 4)]
    specs = []
    for n, per_kind in plan:
        for noisy, kind in enumerate(("deterministic", "noisy")):
            max_inputs = 2 if (n == 5 and noisy) else min(n, 3)
            for i in range(per_kind):
                strong = not (n == 3 and i == per_kind - 1)
                specs.append((n, kind, 1000 * n + 100 * noisy + i, max_inputs, strong))
    return specs


# --------------------------------------------------------------------------------------------------------
# PyPhi results
# --------------------------------------------------------------------------------------------------------


def repertoire_loli(rep: Any, purview: tuple[int, ...]) -> list[float] | None:
    """Flatten a PyPhi repertoire (one axis per network node) to LOLI order over the purview's nodes."""
    if rep is None:
        return None
    arr = np.asarray(rep, dtype=float)
    out = []
    for p in range(2 ** len(purview)):
        idx = [0] * arr.ndim
        for k, node in enumerate(purview):
            idx[node] = (p >> k) & 1
        out.append(float(arr[tuple(idx)]))
    # The same thing with numpy: drop the singleton (non-purview) axes, flatten first axis fastest.
    assert (
        np.allclose(
            out,
            arr.reshape([2 if i in purview else 1 for i in range(arr.ndim)]).squeeze().reshape(-1, order="F"),
        )
        or len(purview) == 0
    )
    return out


def _cut_json(cut: Any) -> Json | None:
    """Return a cut as {"from", "to"}, or None for PyPhi's NullCut (reducible system)."""
    if not hasattr(cut, "from_nodes"):
        return None
    return {"from": [int(i) for i in cut.from_nodes], "to": [int(i) for i in cut.to_nodes]}


def _mip_json(mip: Any) -> list[list[list[int]]] | None:
    """A MIP bipartition as ``[[M1, P1], [M2, P2]]`` (PyPhi's part order), or ``None``."""
    if mip is None:
        return None
    return [[[int(i) for i in part.mechanism], [int(i) for i in part.purview]] for part in mip]


def concepts_json(ces: Any) -> list[Json]:
    """Serialise a CauseEffectStructure concept by concept (PyPhi's order)."""
    out = []
    for c in ces:
        cp, ep = tuple(int(i) for i in c.cause.purview), tuple(int(i) for i in c.effect.purview)
        out.append(
            {
                "mechanism": [int(i) for i in c.mechanism],
                "phi": float(c.phi),
                "cause_purview": list(cp),
                "cause_phi": float(c.cause.phi),
                "effect_purview": list(ep),
                "effect_phi": float(c.effect.phi),
                "cause_repertoire": repertoire_loli(c.cause.repertoire, cp),
                "effect_repertoire": repertoire_loli(c.effect.repertoire, ep),
                "cause_mip": _mip_json(c.cause.mip),
                "effect_mip": _mip_json(c.effect.mip),
            }
        )
    return out


class _Timeout(Exception):
    """Raised by the SIGALRM handler when a computation passes its limit."""


def _alarm(_signum: int, _frame: Any) -> None:
    """Raise :class:`_Timeout` (SIGALRM handler)."""
    raise _Timeout


def analyse(pyphi: Any, spec: Json) -> Json:
    """Compute PyPhi's SIA, per-cut Φ, CES and complexes of one network; return its JSON record."""
    sub_mod = pyphi.compute.subsystem
    tpm, cm, state = spec["tpm"], spec["cm"], tuple(spec["state"])
    n = cm.shape[0]
    rec: Json = {
        "name": spec["name"],
        "n": n,
        "tpm": [[float(x) for x in row] for row in tpm],
        "cm": [[int(x) for x in row] for row in cm],
        "state": list(state),
        "kind": spec.get("kind", "example"),
        "seed": spec.get("seed"),
    }
    t_rec = time.perf_counter()
    # Whole-system SIA, timed once on a fresh Network and Subsystem (all their caches empty).
    subsystem = pyphi.Subsystem(pyphi.Network(tpm, cm=cm), state)
    t0 = time.perf_counter()
    sia = pyphi.compute.sia(subsystem)
    sia_s = time.perf_counter() - t0
    # The unpartitioned CES on the same Subsystem object (its MICE cache is the one sia filled).
    ces = pyphi.compute.ces(subsystem)
    cuts: list[Json] = []
    reason = None
    if not pyphi.connectivity.is_strong(subsystem.cm, subsystem.node_indices):
        reason = "not strongly connected"
    elif not ces:
        reason = "empty unpartitioned CES"
    else:
        for cut in sub_mod.sia_bipartitions(subsystem.node_indices):
            cut_sia = sub_mod.evaluate_cut(subsystem, cut, ces)
            cuts.append({**(_cut_json(cut) or {}), "phi": float(cut_sia.phi)})
        # Self-check: sia's Φ is the minimum over these cuts and its cut is one of the minimisers.
        assert abs(min(c["phi"] for c in cuts) - float(sia.phi)) < 1e-12, rec["name"]
        assert any(
            c["phi"] == float(sia.phi) and {"from": c["from"], "to": c["to"]} == _cut_json(sia.cut)
            for c in cuts
        ), rec["name"]
    rec["sia"] = {"phi": float(sia.phi), "cut": _cut_json(sia.cut), "seconds": sia_s, "cuts": cuts}
    if reason is not None:
        rec["sia"]["reason"] = reason
    rec["concepts"] = concepts_json(ces)

    # Irreducible complexes (and the major one, as pyphi.compute.major_complex picks it: max over them).
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, COMPLEXES_LIMIT_S)
    t0 = time.perf_counter()
    try:
        found = pyphi.compute.complexes(pyphi.Network(tpm, cm=cm), state)
    except _Timeout:
        found = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    cx_s = time.perf_counter() - t0
    if found is not None:
        rec["complexes"] = [
            {"nodes": [int(i) for i in c.subsystem.node_indices], "phi": float(c.phi)} for c in found
        ]
        major = max(found) if found else None
        rec["major_complex"] = (
            {"nodes": [int(i) for i in major.subsystem.node_indices], "phi": float(major.phi)}
            if major is not None
            else {"nodes": [], "phi": 0.0}
        )
        rec["complexes_seconds"] = cx_s
    rec["record_seconds"] = time.perf_counter() - t_rec
    return rec


def meta(pyphi: Any) -> Json:
    """Return versions, the configuration values that matter, date and machine."""
    import pyemd

    keys = [
        "MEASURE",
        "PARTITION_TYPE",
        "SYSTEM_CUTS",
        "PRECISION",
        "ASSUME_CUTS_CANNOT_CREATE_NEW_CONCEPTS",
        "CUT_ONE_APPROXIMATION",
        "PICK_SMALLEST_PURVIEW",
        "USE_SMALL_PHI_DIFFERENCE_FOR_CES_DISTANCE",
        "SINGLE_MICRO_NODES_WITH_SELFLOOPS_HAVE_PHI",
        "VALIDATE_SUBSYSTEM_STATES",
        "VALIDATE_CONDITIONAL_INDEPENDENCE",
        "CACHE_SIAS",
        "CACHE_REPERTOIRES",
        "CACHE_POTENTIAL_PURVIEWS",
        "PARALLEL_CUT_EVALUATION",
        "PARALLEL_CONCEPT_EVALUATION",
        "PARALLEL_COMPLEX_EVALUATION",
    ]
    return {
        "generator": "scripts/pyphi_reference.py",
        "pyphi": pyphi.__version__,
        "numpy": np.__version__,
        "pyemd": getattr(pyemd, "__version__", "unknown"),
        "python": platform.python_version(),
        "config": {k: getattr(pyphi.config, k) for k in keys},
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "processor": platform.processor(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "conventions": {
            "tpm": "state-by-node, 2^n x n, row index LOLI (bit i = state of node i at t-1)",
            "cm": "cm[i][j] = 1 means i -> j",
            "repertoire": "purview nodes only, LOLI (bit k = state of the k-th purview node, increasing)",
            "seconds": "wall time, single process; see meta.machine",
        },
    }


def import_pyphi() -> Any:
    """Import PyPhi (with the shim) from the current directory and configure it."""
    _install_shim()
    import pyphi

    cfg = pyphi.config
    cfg.PROGRESS_BARS = False
    cfg.PARALLEL_CUT_EVALUATION = False
    cfg.PARALLEL_CONCEPT_EVALUATION = False
    cfg.PARALLEL_COMPLEX_EVALUATION = False
    cfg.CACHE_SIAS = False
    cfg.CACHING_BACKEND = "fs"
    cfg.FS_CACHE_DIRECTORY = os.path.join(os.getcwd(), "__pyphi_cache__")
    cfg.LOG_STDOUT_LEVEL = "ERROR"
    return pyphi


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, compute every record and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output JSON path")
    parser.add_argument("--quick", action="store_true", help="examples and 3-node networks only")
    args = parser.parse_args(argv)
    out_path = os.path.abspath(args.out)
    home = os.getcwd()
    workdir = tempfile.mkdtemp(prefix="pyphi_ref_")
    os.chdir(workdir)  # PyPhi's log file and joblib folder go here, not into the repository
    try:
        pyphi = import_pyphi()
        examples = example_networks()
        check_examples_against_pyphi(pyphi, examples)
        specs: list[Json] = list(examples)
        specs += [random_network(pyphi, *s) for s in random_specs(args.quick)]
        records = []
        for spec in specs:
            rec = analyse(pyphi, spec)
            records.append(rec)
            cut = rec["sia"]["cut"]
            cut_s = f"{cut['from']}->{cut['to']}" if cut else "-"
            cx = f"{rec['complexes_seconds']:.2f}s" if "complexes" in rec else "omitted"
            print(
                f"{rec['name']:>14} n={rec['n']} phi={rec['sia']['phi']:<10g} cut={cut_s:<14} "
                f"concepts={len(rec['concepts']):>2} sia={rec['sia']['seconds']:.2f}s complexes={cx} "
                f"record={rec['record_seconds']:.2f}s",
                flush=True,
            )
            if rec["name"] in EXPECTED_EXAMPLES:
                phi, want_cut = EXPECTED_EXAMPLES[rec["name"]]
                bad_cut = want_cut is not None and cut != {"from": want_cut[0], "to": want_cut[1]}
                if abs(rec["sia"]["phi"] - phi) > EXPECTED_TOL or bad_cut:
                    print(f"WARNING: {rec['name']} differs from the published {phi} {want_cut}", flush=True)
        doc = {"meta": meta(pyphi), "networks": records}
    finally:
        os.chdir(home)
        shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as fh:
        json.dump(doc, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes, {len(records)} networks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
