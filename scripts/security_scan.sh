#!/usr/bin/env bash
# Security scan: bandit on hal9/ (medium and high severity), hadolint on the Dockerfile, pip-audit on the
# image's locked runtime dependencies (requirements/runtime.lock).
#
# Usage: scripts/security_scan.sh        (tools from .venv/bin, else PATH: pip install -e '.[security]')
#
# Prints one line per tool and exits 1 when bandit or hadolint report anything, or pip-audit finds a
# known vulnerability. Every accepted bandit finding is marked inline (# nosec BXXX) with its reason.
# pip-audit needs a vulnerability database (PyPI's or OSV's); where none can be reached it prints
# "pip-audit: NOT AUDITED (...)" — never "no known vulnerabilities" — and that alone does not fail.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
tool() { if [[ -x .venv/bin/$1 ]]; then echo ".venv/bin/$1"; else command -v "$1" || echo "$1"; fi; }
status=0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if "$(tool bandit)" -q -r hal9 -ll -f txt >"$work/bandit.txt" 2>&1; then
    echo "bandit: 0 medium/high findings in hal9/ ($(grep -c 'nosec B' -r hal9 | awk -F: '{ s += $2 } END { print s }') accepted inline with a reason)"
else
    echo "bandit: FINDINGS (medium/high):"
    grep -E '^>> Issue|Location' "$work/bandit.txt" | sed 's/^/  /'
    grep -q 'Issue' "$work/bandit.txt" || sed 's/^/  /' "$work/bandit.txt"
    status=1
fi

if "$(tool hadolint)" Dockerfile >"$work/hadolint.txt" 2>&1; then
    echo "hadolint: Dockerfile clean"
else
    echo "hadolint: FINDINGS:"
    sed 's/^/  /' "$work/hadolint.txt"
    status=1
fi

# JSON, so that packages pip-audit skipped (no database answer) are counted: on its own it prints "No known
# vulnerabilities found" even when it could audit nothing.
# torch is installed apart from the lock (CPU or CUDA build): audited with it, by version.
{ cat requirements/runtime.lock; echo "torch==2.13.0"; } | grep -v -- '--hash' | sed 's/ \\$//' >"$work/audit.txt.in"
"$(tool pip-audit)" --no-deps --disable-pip -r "$work/audit.txt.in" \
    --progress-spinner off --timeout 20 -f json -o "$work/audit.json" >"$work/audit.txt" 2>&1
rc=$?
verdict="$(python3 - "$work/audit.json" "$rc" <<'PY'
import json, sys

try:
    deps = json.load(open(sys.argv[1]))["dependencies"]
except (OSError, ValueError, KeyError):
    print(f"ERROR pip-audit exited {sys.argv[2]} without a report")
    raise SystemExit
vulnerable = [f"{d['name']} {d['version']}: {', '.join(v['id'] for v in d['vulns'])}" for d in deps if d.get("vulns")]
skipped = [d for d in deps if "skip_reason" in d]
if vulnerable:
    print("VULNERABLE " + "; ".join(vulnerable))
elif skipped:
    print(f"NOT AUDITED {len(skipped)} of {len(deps)} packages could not be checked ({skipped[0]['skip_reason']})")
elif deps:
    print(f"CLEAN {len(deps)}")
else:
    print("ERROR pip-audit reported no packages")
PY
)"
case $verdict in
    CLEAN*) echo "pip-audit: no known vulnerabilities in requirements/runtime.lock + torch (${verdict#CLEAN } packages audited)" ;;
    "NOT AUDITED"*) echo "pip-audit: NOT AUDITED: ${verdict#NOT AUDITED }" ;;
    *)
        echo "pip-audit: ${verdict}"
        sed 's/^/  /' "$work/audit.txt" | head -20
        status=1
        ;;
esac
exit $status
