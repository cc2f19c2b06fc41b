#!/usr/bin/env bash
# Restore a backup of scripts/backup.sh into a fresh PostgreSQL database and verify it against its manifest.
#
# Usage: scripts/restore.sh [options] DUMP TARGET_DATABASE_URL      (scripts/restore.sh --help)
#
# 1. checks the dump's SHA-256 against the manifest (DUMP with .dump replaced by .manifest.json);
# 2. creates the target database if it does not exist; refuses a non-empty one unless --force;
# 3. pg_restore --no-owner --exit-on-error --single-transaction (all or nothing);
# 4. recomputes, per table, the row count and checksum as backup.sh did and compares them with the
#    manifest; checks that every sequence owned by a column is past that column's largest value;
# 5. ANALYZE; prints a summary. Exit status 0 only when everything matches.
set -euo pipefail

prog=restore.sh
usage() {
    cat <<'EOF'
Usage: scripts/restore.sh [options] DUMP TARGET_DATABASE_URL

Restore DUMP (made by scripts/backup.sh) into TARGET_DATABASE_URL with pg_restore --no-owner
--exit-on-error --single-transaction, then recompute the row count and checksum of every table and compare
them with the manifest next to the dump (DUMP with .dump replaced by .manifest.json). Exit status 0 only
if the dump's SHA-256, the set of tables, every row count and every checksum match.

The target database is created when it does not exist (through the maintenance database "postgres" of
the same server). A target that already holds tables, sequences, views, functions or types is refused.
postgresql+psycopg:// (any +driver) URLs are accepted.

Options:
  --manifest FILE     the manifest (default: next to DUMP)
  --force             restore into a non-empty database: pg_restore --clean --if-exists drops and
                      recreates the objects of the dump; objects that are not in the dump stay (extra
                      tables are then reported as a mismatch). For a clean slate, drop and create the
                      database instead (dropdb / createdb) and restore without --force.
  --no-privileges     skip the GRANT/REVOKE of the dump (when its roles do not exist on the target)
  --maintenance-db D  database used to create the target (default postgres)
  --timeout S         give up after S seconds per step (default $HAL9_RESTORE_TIMEOUT_S or 3600)
  -h, --help          this help

Environment: PGCONNECT_TIMEOUT (default 10).
Exit status: 0 restored and verified; 1 failure or mismatch; 2 bad usage.
EOF
}

# shellcheck source=scripts/_pg_backup_common.sh
source "$(dirname "$0")/_pg_backup_common.sh"
# The value of a string field of the manifest (written one field a line, as backup.sh and jq do).
manifest_field() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\\([^\"]*\\)\",\\{0,1\\}\$/\\1/p" "$manifest" | head -n 1; }

manifest=""
force=""
no_privileges=""
maintenance_db=postgres
timeout_s="${HAL9_RESTORE_TIMEOUT_S:-3600}"
args=()
while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --manifest) (($# >= 2)) || usage_error "--manifest needs a file"; manifest=$2; shift 2 ;;
        --manifest=*) manifest=${1#*=}; shift ;;
        --force) force=1; shift ;;
        --no-privileges) no_privileges=1; shift ;;
        --maintenance-db) (($# >= 2)) || usage_error "--maintenance-db needs a name"; maintenance_db=$2; shift 2 ;;
        --maintenance-db=*) maintenance_db=${1#*=}; shift ;;
        --timeout) (($# >= 2)) || usage_error "--timeout needs seconds"; timeout_s=$2; shift 2 ;;
        --timeout=*) timeout_s=${1#*=}; shift ;;
        --) shift; args+=("$@"); break ;;
        -*) usage_error "unknown option $1" ;;
        *) args+=("$1"); shift ;;
    esac
done
((${#args[@]} == 2)) || usage_error "expected DUMP and TARGET_DATABASE_URL"
dump=${args[0]}
url=${args[1]}
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout must be a positive whole number of seconds"
[[ -f $dump ]] || die "dump $dump not found"
manifest=${manifest:-${dump%.dump}.manifest.json}
[[ -f $manifest ]] || die "manifest $manifest not found (pass --manifest FILE)"
grep -Eq '"format": *"hal9-backup/1"' "$manifest" || die "$manifest is not a manifest of scripts/backup.sh"
case $url in
    postgres://* | postgresql://*) ;;
    postgres+*://* | postgresql+*://*) url="postgresql://${url#*://}" ;;
    *) die "not a PostgreSQL URL: $(redact "$url")" ;;
esac
for tool in pg_restore psql timeout sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found (install the PostgreSQL client tools)"
done
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
shown_url=$(redact "$url")

# postgresql://authority/DBNAME?query: the database name, and the same URL on another database.
rest=${url#*://}
if [[ $rest == */* ]]; then
    authority=${rest%%/*}
    path=${rest#*/}
else
    authority=$rest
    path=""
fi
db_name=${path%%\?*}
query=""
[[ $path == *\?* ]] && query="?${path#*\?}"
[[ -n $db_name ]] || die "TARGET_DATABASE_URL names no database: $shown_url"
maintenance_url="postgresql://$authority/$maintenance_db$query"

psql_target() { timeout "$timeout_s" psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$url" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t_total=$(now)

# --- 1. the dump is the one the manifest describes ------------------------------------------------------------
t0=$(now)
expected_sha=$(manifest_field dump_sha256)
[[ -n $expected_sha ]] || die "$manifest has no dump_sha256"
actual_sha=$(sha256sum "$dump" | cut -d' ' -f1)
[[ $actual_sha == "$expected_sha" ]] ||
    die "$dump is not the dump of $manifest (SHA-256 $actual_sha, manifest says $expected_sha): corrupted or mixed up"
timeout "$timeout_s" pg_restore --list "$dump" >/dev/null 2>"$work/list.err" ||
    die "pg_restore cannot read $dump: $(head -n 3 "$work/list.err")"
t_check=$(elapsed "$t0")

# --- 2. a fresh target ------------------------------------------------------------------------------------------
if ! err=$(psql_target -c 'SELECT 1' 2>&1 >/dev/null); then
    if [[ $err == *"does not exist"* ]]; then
        log "creating database $db_name"
        timeout 120 psql -X -q -v ON_ERROR_STOP=1 -d "$maintenance_url" -v name="$db_name" \
            -f - <<<'CREATE DATABASE :"name";' >/dev/null ||
            die "cannot create database $db_name through $(redact "$maintenance_url") (create it yourself: createdb $db_name)"
    else
        die "cannot connect to $shown_url: $(head -n 3 <<<"$err")"
    fi
fi
objects=$(psql_target <<'SQL'
SELECT (SELECT count(*) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)')
     + (SELECT count(*) FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
     + (SELECT count(*) FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
          AND t.typtype IN ('e', 'd', 'r', 'm')
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.objid = t.oid AND d.deptype = 'e'));
SQL
)
clean=()
if [[ $objects != 0 ]]; then
    [[ -n $force ]] || die "target database $db_name is not empty ($objects objects): restore into a fresh database (createdb NAME), or pass --force to overwrite the objects of the dump"
    log "target database $db_name holds $objects objects: --force, restoring with --clean --if-exists"
    clean=(--clean --if-exists)
fi

# --- 3. restore, all or nothing -------------------------------------------------------------------------------------
acl=()
[[ -z $no_privileges ]] || acl=(--no-privileges)
log "restoring $(basename "$dump") (revision $(manifest_field alembic_revision), made $(manifest_field created_at)) into $shown_url"
t0=$(now)
if ! timeout "$timeout_s" pg_restore --no-owner --exit-on-error --single-transaction "${clean[@]}" "${acl[@]}" \
    --dbname="$url" "$dump"; then
    die "pg_restore failed (nothing was restored: one transaction; exit status 124: timed out after ${timeout_s}s)"
fi
t_restore=$(elapsed "$t0")

# --- 4. verify against the manifest -----------------------------------------------------------------------------------
# The same rendering and checksum as scripts/backup.sh (one definition: _pg_backup_common.sh), then a comparison with the
# manifest in SQL: one line per table, OK or MISMATCH, and one line per sequence that lags its column.
export HAL9_RS_MANIFEST="$manifest"
{
    echo '\set ON_ERROR_STOP 1'
    echo "$HAL9_PG_RENDER_SQL"
    cat <<'SQL'
\pset fieldsep ' '
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
SQL
    echo "$HAL9_PG_CHECKSUMS_SQL"
    cat <<'SQL'
\set manifest `cat "$HAL9_RS_MANIFEST"`
SELECT CASE WHEN m.value = a.value THEN 'OK' WHEN m.value IS NULL THEN 'EXTRA' WHEN a.value IS NULL
            THEN 'MISSING' ELSE 'MISMATCH' END,
       coalesce(m.key, a.key),
       'rows=' || coalesce(a.value ->> 'rows', '-') || '/' || coalesce(m.value ->> 'rows', '-'),
       'md5=' || coalesce(a.value ->> 'md5', '-') || '/' || coalesce(m.value ->> 'md5', '-')
FROM jsonb_each(:'manifest'::jsonb -> 'tables') AS m
FULL JOIN jsonb_each(:'tables'::jsonb) AS a ON a.key = m.key
ORDER BY 2;
-- Sequences owned by an integer column: the next value must lie beyond the column's largest value.
SELECT coalesce(string_agg(format(
    'SELECT %L AS seq, (SELECT CASE WHEN is_called THEN last_value + %s ELSE last_value END FROM %s) AS next, '
    '(SELECT max(%I) FROM %s) AS top', s.oid::regclass::text, q.seqincrement, s.oid::regclass,
    a.attname, t.oid::regclass), ' UNION ALL '), 'SELECT NULL::text AS seq, 0 AS next, 0 AS top LIMIT 0')
    AS seq_query
FROM pg_class AS s
JOIN pg_sequence AS q ON q.seqrelid = s.oid
JOIN pg_depend AS d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype IN ('a', 'i')
JOIN pg_class AS t ON t.oid = d.refobjid
JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE s.relkind = 'S' AND q.seqincrement > 0 AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
\gset
SELECT 'SEQUENCE-BEHIND', seq, 'next=' || next, 'max=' || top FROM (:seq_query) AS x WHERE next <= top;
COMMIT;
SQL
} >"$work/verify.sql"
t0=$(now)
if ! psql_target -f "$work/verify.sql" >"$work/verify.out"; then
    die "the verification queries failed (the data was restored into $shown_url)"
fi
t_verify=$(elapsed "$t0")

ok=0
bad=0
while read -r status name rows md5; do
    [[ -n $status ]] || continue
    if [[ $status == OK ]]; then
        ok=$((ok + 1))
        printf '  %-9s %-40s %s\n' "$status" "$name" "${rows#rows=}"
    else
        bad=$((bad + 1))
        printf '  %-9s %-40s %s %s (restored/manifest)\n' "$status" "$name" "$rows" "$md5"
    fi
done <"$work/verify.out"
((ok + bad > 0)) || die "no tables compared (empty verification output)"

# --- 5. statistics for the planner (pg_restore does not analyze) ----------------------------------------------
t0=$(now)
psql_target -c 'ANALYZE' >/dev/null || log "warning: ANALYZE failed"
t_analyze=$(elapsed "$t0")

log "timings: checks ${t_check}s, pg_restore ${t_restore}s, verification ${t_verify}s, ANALYZE ${t_analyze}s, total $(elapsed "$t_total")s"
if ((bad > 0)); then
    echo "$prog: FAILED: $bad mismatch(es), $ok table(s) OK: $shown_url does NOT hold the backup's data" >&2
    exit 1
fi
echo "$prog: OK: $ok tables restored and verified (row counts and checksums match the manifest) into $shown_url" >&2
