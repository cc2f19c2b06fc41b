#!/usr/bin/env bash
# Check a running `hal9 serve`: /health, /ready and one authenticated call.
#
# Usage: scripts/health-check.sh BASE_URL [API_KEY]
#   BASE_URL  e.g. http://127.0.0.1:8000
#   API_KEY   an API key with the read scope (default: $HAL9_API_KEY); without one the
#             authenticated call is skipped and only reported.
# Exits non-zero at the first failing check.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 BASE_URL [API_KEY]" >&2
    exit 2
fi
base="${1%/}"
key="${2:-${HAL9_API_KEY:-}}"

check() {  # check NAME URL [curl args...]
    local name=$1 url=$2
    shift 2
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url") || code="000"
    if [[ "$code" != "200" ]]; then
        echo "FAIL $name: HTTP $code from $url" >&2
        exit 1
    fi
    echo "ok   $name"
}

check health "$base/health"
check ready "$base/ready"
if [[ -n "$key" ]]; then
    check "authenticated GET /api/v1/runs" "$base/api/v1/runs?limit=1" -H "X-API-Key: $key"
else
    echo "skip authenticated call (no API_KEY given)"
fi
