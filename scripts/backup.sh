#!/usr/bin/env bash
# Back up the PostgreSQL database of `hal9 serve` (and, when they are local files, its MLflow store).
#
# Usage: scripts/backup.sh [--out DIR] [options] [DATABASE_URL]      (scripts/backup.sh --help)
#
# Writes, into DIR (default: the current directory), files named hal9-<database>-<UTC time>.*:
#   .dump            pg_dump --format=custom of the whole database (schema, data, the job queue)
#   .manifest.json   per table: row count and a checksum of its content computed in SQL; the alembic
#                    revision; hal9, pg_dump and server versions; the dump's size and SHA-256
#   .mlflow/         (only with a local MLflow store) a copy of the sqlite file and of the artifacts
#   .data.tar.gz     (only with --data-dir) the service's data folder (tracking fallback runs)
# The dump and the manifest come from ONE snapshot (pg_export_snapshot + pg_dump --snapshot): the
# service may keep running and writing during the backup. The dump is checked with pg_restore --list.
# scripts/restore.sh restores it into a fresh database and checks it against the manifest.
set -euo pipefail

prog=backup.sh
usage() {
    cat <<'EOF'
Usage: scripts/backup.sh [--out DIR] [options] [DATABASE_URL]

Back up the PostgreSQL database of `hal9 serve`: pg_dump --format=custom into
DIR/hal9-<database>-<UTC time>.dump, and DIR/<same name>.manifest.json with, per table, the row count
and a checksum of its content (computed in SQL in the dump's own snapshot), the alembic revision, and
the hal9, pg_dump and server versions. The dump is verified with pg_restore --list.

DATABASE_URL defaults to $HAL9_DATABASE_URL, then $DATABASE_URL (as `hal9 serve` reads them);
postgresql+psycopg:// (any +driver) is accepted. Prefer ~/.pgpass or PGPASSWORD to a password in the URL:
the URL is visible in the process list.

Options:
  --out DIR           folder of the backup files (created; default: current directory)
  --tracking-uri URI  MLflow store to copy too, when it is local: sqlite:///PATH (the file, copied with
                      SQLite's online backup, and the mlruns/ folder next to it, where hal9 keeps the
                      artifacts) or file:PATH / a plain path (the folder). Default: $HAL9_TRACKING_URI,
                      then $MLFLOW_TRACKING_URI. An http(s):// or database store is NOT copied: back it up
                      with that server's own tools (the manifest says so).
  --no-tracking       do not copy the MLflow store even if a tracking URI is set
  --data-dir DIR      also archive the service's data folder (HAL9_DATA_DIR: tracking fallback runs)
  --timeout S         give up after S seconds per step (default $HAL9_BACKUP_TIMEOUT_S or 3600)
  -h, --help          this help

Environment: PGCONNECT_TIMEOUT (default 10), HAL9_PYTHON (python with hal9, for its version),
HAL9_BACKUP_LOCK_TIMEOUT (default 60s: how long to wait for a table lock, e.g. behind a migration).
Exit status: 0 on success; 1 on any failure (partial files are removed); 2 on bad usage.
EOF
}

# shellcheck source=scripts/_pg_backup_common.sh
source "$(dirname "$0")/_pg_backup_common.sh"

out_dir=.
url=""
tracking_uri="${HAL9_TRACKING_URI:-${MLFLOW_TRACKING_URI:-}}"
data_dir=""
timeout_s="${HAL9_BACKUP_TIMEOUT_S:-3600}"
while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --out) (($# >= 2)) || usage_error "--out needs a folder"; out_dir=$2; shift 2 ;;
        --out=*) out_dir=${1#*=}; shift ;;
        --tracking-uri) (($# >= 2)) || usage_error "--tracking-uri needs a URI"; tracking_uri=$2; shift 2 ;;
        --tracking-uri=*) tracking_uri=${1#*=}; shift ;;
        --no-tracking) tracking_uri=""; shift ;;
        --data-dir) (($# >= 2)) || usage_error "--data-dir needs a folder"; data_dir=$2; shift 2 ;;
        --data-dir=*) data_dir=${1#*=}; shift ;;
        --timeout) (($# >= 2)) || usage_error "--timeout needs seconds"; timeout_s=$2; shift 2 ;;
        --timeout=*) timeout_s=${1#*=}; shift ;;
        --) shift; break ;;
        -*) usage_error "unknown option $1" ;;
        *) [[ -z $url ]] || usage_error "one DATABASE_URL only"; url=$1; shift ;;
    esac
done
if (($#)); then
    [[ -z $url && $# -eq 1 ]] || usage_error "one DATABASE_URL only"
    url=$1
fi
url=${url:-${HAL9_DATABASE_URL:-${DATABASE_URL:-}}}
[[ -n $url ]] || usage_error "no DATABASE_URL (argument, \$HAL9_DATABASE_URL or \$DATABASE_URL)"
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout must be a positive whole number of seconds"
case $url in
    postgres://* | postgresql://*) ;;
    postgres+*://* | postgresql+*://*) url="postgresql://${url#*://}" ;; # SQLAlchemy driver suffix
    sqlite*) die "$(redact "$url") is a SQLite database: stop the service and copy the file, or use: sqlite3 FILE '.backup COPY'" ;;
    *) die "not a PostgreSQL URL: $(redact "$url")" ;;
esac
for tool in pg_dump pg_restore psql timeout sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found (install the PostgreSQL client tools, same major version as the server or newer)"
done
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
lock_timeout="${HAL9_BACKUP_LOCK_TIMEOUT:-60s}"
shown_url=$(redact "$url")

# --- where the database is, and what it is -----------------------------------------------------------------
if ! info=$(timeout 60 psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$url" \
    -c "SELECT current_database() || '|' || current_setting('server_version')" 2>&1); then
    die "cannot connect to $shown_url: $(head -n 3 <<<"$info")"
fi
db_name=${info%%|*}
server_version=${info#*|}
pg_dump_version=$(pg_dump --version)
hal9_version=unknown
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for py in "${HAL9_PYTHON:-}" "$script_dir/../.venv/bin/python" python3; do
    if [[ -z $py ]] || ! command -v "$py" >/dev/null; then
        continue
    fi
    if v=$(timeout 30 "$py" -c 'import importlib.metadata as m; print(m.version("hal9-research"))' 2>/dev/null); then
        hal9_version=$v
        break
    fi
done

mkdir -p "$out_dir" || die "cannot create $out_dir"
out_dir=$(cd "$out_dir" && pwd)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
safe_db=$(printf %s "$db_name" | tr -c 'A-Za-z0-9._-' '_')
base="$out_dir/hal9-$safe_db-$stamp"
dump="$base.dump"
manifest="$base.manifest.json"
[[ ! -e $dump && ! -e $manifest ]] || die "$dump exists already"
work=$(mktemp -d "$out_dir/.backup-XXXXXX")
finished=""
cleanup() {
    # a pg_dump still running in the background (the backup transaction failed or timed out): stop it
    if [[ -s $work/pg_dump.pid && ! -e $work/pg_dump.rc ]]; then
        kill "$(cat "$work/pg_dump.pid")" 2>/dev/null || true
    fi
    rm -rf "$work"
    if [[ -z $finished ]]; then
        rm -rf "$dump" "$manifest" "$base.mlflow" "$base.data.tar.gz"
        echo "$prog: FAILED; no backup written" >&2
    fi
}
trap cleanup EXIT

# --- dump and manifest, in one snapshot ----------------------------------------------------------------------
# A repeatable-read transaction exports its snapshot; pg_dump (started in the background from psql with \!)
# dumps exactly that snapshot while the same transaction counts and checksums every table. Each row is rendered as text
# with fixed settings (UTC, ISO dates, shortest exact floats, hex bytea); the checksum of a table is the
# md5 of its rows' md5s sorted in byte order: independent of physical order, and scripts/restore.sh
# computes it with the same SQL (_pg_backup_common.sh). Tables: every ordinary table outside the system schemas (public: hal9's tables,
# alembic_version and procrastinate_*), except tables of extensions (whose data pg_dump leaves out).
export HAL9_BK_URL="$url" HAL9_BK_DUMP="$work/db.dump" HAL9_BK_RC="$work/pg_dump.rc" \
    HAL9_BK_TIMEOUT="$timeout_s" HAL9_BK_LOCK_TIMEOUT="$lock_timeout" HAL9_BK_SHA="$work/db.sha256" \
    HAL9_BK_PID="$work/pg_dump.pid"
{
    echo '\set ON_ERROR_STOP 1'
    echo "$HAL9_PG_RENDER_SQL"
    cat <<'SQL'
SET lock_timeout = :'lock_timeout';
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
SELECT pg_export_snapshot() AS snapshot \gset
\setenv HAL9_BK_SNAPSHOT :snapshot
-- pg_dump runs in the background on this snapshot while this transaction checksums the tables.
\! (trap 'kill "$p" 2>/dev/null' TERM; timeout "$HAL9_BK_TIMEOUT" pg_dump --format=custom --snapshot="$HAL9_BK_SNAPSHOT" --lock-wait-timeout="$HAL9_BK_LOCK_TIMEOUT" --file="$HAL9_BK_DUMP" --dbname="$HAL9_BK_URL" </dev/null & p=$!; wait "$p"; echo $? >"$HAL9_BK_RC.tmp"; mv "$HAL9_BK_RC.tmp" "$HAL9_BK_RC") >&2 & echo $! >"$HAL9_BK_PID"
SET work_mem = '64MB';
SQL
    echo "$HAL9_PG_CHECKSUMS_SQL"
    cat <<'SQL'
SELECT to_regclass('alembic_version') IS NOT NULL AS has_alembic \gset
\if :has_alembic
SELECT coalesce((SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version), '')
    AS alembic_revision \gset
\else
\set alembic_revision ''
\endif
-- The snapshot stays open until pg_dump is done (it has imported it by then at the latest).
\! timeout "$HAL9_BK_TIMEOUT" sh -c 'while [ ! -e "$HAL9_BK_RC" ]; do sleep 0.1; done'; if [ "$(cat "$HAL9_BK_RC" 2>/dev/null)" = 0 ]; then sha256sum "$HAL9_BK_DUMP" | cut -d' ' -f1 >"$HAL9_BK_SHA"; fi
\set dump_rc `cat "$HAL9_BK_RC" 2>/dev/null || echo none`
SELECT :'dump_rc' = '0' AS dump_ok \gset
\if :dump_ok
\set dump_sha256 `cat "$HAL9_BK_SHA"`
\set dump_bytes `stat -c %s "$HAL9_BK_DUMP"`
SELECT jsonb_pretty(jsonb_build_object(
    'format', 'hal9-backup/1',
    'created_at', to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'database', current_database(),
    'database_url', :'shown_url',
    'server_version', current_setting('server_version'),
    'pg_dump_version', :'pg_dump_version',
    'hal9_version', :'hal9_version',
    'alembic_revision', nullif(:'alembic_revision', ''),
    'snapshot', :'snapshot',
    'dump_file', :'dump_name',
    'dump_sha256', :'dump_sha256',
    'dump_bytes', :'dump_bytes'::bigint,
    'checksum', 'md5 of the md5(row::text) of all rows sorted (COLLATE "C"), TimeZone UTC, DateStyle ISO',
    'tables', :'tables'::jsonb,
    'mlflow', :'mlflow_note'
));
\endif
COMMIT;
SQL
} >"$work/backup.sql"

# The note about MLflow written into the manifest (completed below when the store is copied).
tracking_scheme=""
case $tracking_uri in
    "") mlflow_note="not backed up: no tracking URI given (the service's default is sqlite:///<its working directory>/mlflow.db; pass --tracking-uri)" ;;
    sqlite:///*) tracking_scheme=sqlite; mlflow_note="copied: $base.mlflow/ (sqlite file and mlruns/ artifacts)" ;;
    file:* | /* | ./* | ../*) tracking_scheme=dir; mlflow_note="copied: $base.mlflow/ (file store)" ;;
    *) mlflow_note="not backed up: $(redact "$tracking_uri") is a server or database; back it up (runs and artifact store) with its own tools" ;;
esac

log "backing up $shown_url (server $server_version, $pg_dump_version) into $base.*"
t0=$(now)
if ! timeout "$((timeout_s + 120))" psql -X -q -A -t -d "$url" -f "$work/backup.sql" \
    -v lock_timeout="$lock_timeout" -v shown_url="$shown_url" \
    -v pg_dump_version="$pg_dump_version" -v hal9_version="$hal9_version" \
    -v dump_name="$(basename "$dump")" -v mlflow_note="$mlflow_note" >"$work/manifest.json"; then
    die "the backup transaction failed (see above; on 'lock timeout' a migration or another transaction holds a table: retry, or raise HAL9_BACKUP_LOCK_TIMEOUT)"
fi
dump_rc=$(cat "$HAL9_BK_RC" 2>/dev/null || echo "did not run")
[[ $dump_rc == 0 ]] || die "pg_dump failed (exit status $dump_rc; 124: timed out after ${timeout_s}s)"
[[ -s $work/manifest.json ]] || die "the manifest was not written"
t_dump=$(elapsed "$t0")

t0=$(now)
if ! timeout "$timeout_s" pg_restore --list "$HAL9_BK_DUMP" >"$work/toc.txt" 2>"$work/toc.err"; then
    die "the dump does not read back (pg_restore --list): $(head -n 3 "$work/toc.err")"
fi
grep -q ' TABLE DATA ' "$work/toc.txt" || log "warning: the dump holds no table data (empty database?)"
t_verify=$(elapsed "$t0")
mv "$HAL9_BK_DUMP" "$dump"
mv "$work/manifest.json" "$manifest"

# --- MLflow store and data folder (local files only) ----------------------------------------------------------
# After the database: every MLflow run the database refers to is then in the copy (a job's run is written
# to MLflow before the job's outcome is recorded in the database).
t0=$(now)
if [[ $tracking_scheme == sqlite ]]; then
    sqlite_path=${tracking_uri#sqlite:///}
    sqlite_path=${sqlite_path%%\?*}
    [[ -f $sqlite_path ]] || die "MLflow sqlite store $sqlite_path not found (--tracking-uri / HAL9_TRACKING_URI; --no-tracking to skip)"
    mkdir -p "$base.mlflow"
    # SQLite's online backup: a consistent copy while jobs keep logging.
    if command -v sqlite3 >/dev/null; then
        timeout "$timeout_s" sqlite3 "$sqlite_path" ".timeout 10000" ".backup '$base.mlflow/mlflow.db'" ||
            die "sqlite3 .backup of $sqlite_path failed"
    else
        timeout "$timeout_s" python3 - "$sqlite_path" "$base.mlflow/mlflow.db" <<'PY' || die "copy of $sqlite_path failed"
import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1], timeout=10), sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.close(); src.close()
PY
    fi
    artifacts="$(dirname "$sqlite_path")/mlruns"
    if [[ -d $artifacts ]]; then
        timeout "$timeout_s" tar -C "$(dirname "$artifacts")" -czf "$base.mlflow/mlruns.tar.gz" mlruns ||
            die "archiving the MLflow artifacts $artifacts failed"
    else
        log "note: no artifact folder $artifacts (no artifacts logged yet?)"
    fi
    printf 'sqlite store: %s\nartifacts: %s\n' "$sqlite_path" "$artifacts" >"$base.mlflow/SOURCE"
elif [[ $tracking_scheme == dir ]]; then
    store=${tracking_uri#file://}
    store=${store#file:}
    [[ -d $store ]] || die "MLflow file store $store not found (--no-tracking to skip)"
    mkdir -p "$base.mlflow"
    timeout "$timeout_s" tar -C "$(dirname "$store")" -czf "$base.mlflow/store.tar.gz" "$(basename "$store")" ||
        die "archiving the MLflow store $store failed"
    printf 'file store: %s\n' "$store" >"$base.mlflow/SOURCE"
else
    log "note: MLflow $mlflow_note"
fi
if [[ -n $data_dir ]]; then
    [[ -d $data_dir ]] || die "data folder $data_dir not found"
    timeout "$timeout_s" tar -C "$(dirname "$data_dir")" -czf "$base.data.tar.gz" "$(basename "$data_dir")" ||
        die "archiving $data_dir failed"
fi
t_files=$(elapsed "$t0")

finished=1
tables=$(grep -c '"rows":' "$manifest" || true)
log "done: $(basename "$dump") ($(stat -c %s "$dump") bytes, $tables tables, revision $(sed -n 's/^ *"alembic_revision": "\(.*\)",\{0,1\}$/\1/p' "$manifest"))"
log "timings: dump+manifest ${t_dump}s, pg_restore --list ${t_verify}s, MLflow/data copies ${t_files}s"
echo "$dump"
