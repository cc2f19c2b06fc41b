"""Print one table of the figures that ``scripts/gpu_check.sh`` left in a folder.

Usage: ``python scripts/gpu_summary.py OUT`` — reads the JSON files written by the benchmarks
(``bench_run_vs_loop.json``, ``bench_propagation.json``, ``bench_spiking.json`` and pytest-benchmark's
``<stage>.json``) and prints ``stage | case | figures``. Only what the files hold is printed; a
missing file is named as missing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _rows(out: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    run = _load(out / "bench_run_vs_loop.json")
    if run:
        for c in run["cases"]:
            ms = c["ms_per_step"]
            figs = (
                f"hal9 {ms['hal9']:.3f} ms/step, loop {ms['loop']:.3f},"
                f" hal9/loop {c['ratio_hal9_over_loop']:.2f} (no means {c['ratio_no_means_over_loop']:.2f})"
            )
            if "fraction_of_copy_bandwidth" in c:
                figs += (
                    f"; {c['achieved_gb_per_s_no_means']:.0f} GB/s = {c['fraction_of_copy_bandwidth']:.2f}"
                    f" of copy ({c['stream_copy_gb_per_s']:.0f} GB/s)"
                )
            rows.append(("run vs loop (rate)", f"N={c['neurons']:,} batch {c['batch']}", figs))
    prop = _load(out / "bench_propagation.json")
    if prop:
        for r in prop["rows"]:
            case = f"N={r['neurons']:,} batch {r['batch']} density {r['density']}"
            figs = (
                f"dense {r['ms']['dense']:.3f} ms, event {r['ms']['event']:.3f} ms,"
                f" event/dense {r['event_over_dense']:.2f}"
            )
            rows.append(("propagation", case, figs))
    spiking = _load(out / "bench_spiking.json")
    if spiking:
        for c in spiking.get("cases", []):
            ms = c["ms_per_step"]
            figs = ", ".join(f"{k} {v:.3f}" for k, v in ms.items()) + " ms/step"
            figs += f"; hal9/loop {c['ratio_hal9_over_loop']:.2f}"
            if "ratio_hal9_over_brian2" in c:
                figs += f", hal9/Brian2 {c['ratio_hal9_over_brian2']:.2f}"
            case = f"N={c['neurons']:,} ({c['spikes_per_step_hal9']:.0f} spikes/step)"
            rows.append(("spiking (LIF)", case, figs))
    for path in sorted(out.glob("bench_*.json")):
        data = _load(path)
        if not isinstance(data, dict) or "benchmarks" not in data:
            continue
        for b in data["benchmarks"]:
            rows.append((path.stem, b["name"], f"median {1e3 * b['stats']['median']:.3f} ms"))
    return rows


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "outputs")
    info = out / "gpu.txt"
    gpu = info.read_text().strip().splitlines() if info.exists() else ["(no gpu.txt)"]
    print("device:", " / ".join(gpu))
    rows = _rows(out)
    if not rows:
        print(f"no benchmark figures found in {out}")
        return 1
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w0}} | {r[1]:<{w1}} | {r[2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
