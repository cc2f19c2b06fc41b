#!/usr/bin/env bash
# Print the pip arguments that choose where torch comes from (used by the Makefile: `make install TORCH_INDEX=...`).
#
# Usage: scripts/torch_index.sh [auto|cpu|default|URL]
#   auto     (default) an NVIDIA driver (nvidia-smi) -> nothing (PyPI's torch, a CUDA build);
#            a torch wheel already in pip's find-links (a machine with local wheels) -> nothing;
#            otherwise -> the CPU wheel index (about 200 MB instead of several GB of CUDA libraries)
#   cpu      always the CPU wheel index: --extra-index-url https://download.pytorch.org/whl/cpu
#   default  nothing: pip's configured indexes decide (PyPI: the CUDA build on Linux x86_64)
#   URL      --extra-index-url URL (e.g. https://download.pytorch.org/whl/cu126)
# With the CPU index, `torch==2.13.0` resolves to 2.13.0+cpu (a local version label matches the pin).
set -euo pipefail
CPU_INDEX=https://download.pytorch.org/whl/cpu
choice="${1:-auto}"

local_wheel() {
    local links dir
    links="${PIP_FIND_LINKS:-} $("${PYTHON:-python3}" -m pip config list 2>/dev/null |
        sed -n "s/.*find-links='\(.*\)'/\1/p" | tr '\n' ' ')"
    for dir in $links; do
        dir="${dir#file://}"
        if compgen -G "$dir/torch-*.whl" >/dev/null; then return 0; fi
    done
    return 1
}

case "$choice" in
    auto)
        if command -v nvidia-smi >/dev/null 2>&1 || local_wheel; then exit 0; fi
        echo "--extra-index-url $CPU_INDEX"
        ;;
    cpu) echo "--extra-index-url $CPU_INDEX" ;;
    default | pypi) ;;
    http://* | https://* | file://*) echo "--extra-index-url $choice" ;;
    *)
        echo "torch_index.sh: TORCH_INDEX must be auto, cpu, default or an index URL, got '$choice'" >&2
        exit 2
        ;;
esac
