# shellcheck shell=bash disable=SC2154  # $prog is set by the sourcing script
# Shared by scripts/backup.sh and scripts/restore.sh (sourced; they set $prog): messages, timing, and the
# one definition of the per-table checksum, which a restore must compute exactly as the backup did.

die() {
    echo "$prog: error: $*" >&2
    exit 1
}
usage_error() {
    echo "$prog: error: $*" >&2
    echo "Try '$prog --help'." >&2
    exit 2
}
log() { echo "$prog: $*" >&2; }
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# Row rendering of the checksums: fixed time zone, date style, float digits and bytea format.
# shellcheck disable=SC2034  # used by the scripts that source this file
HAL9_PG_RENDER_SQL="$(cat <<'SQL'
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SQL
)"
# Sets :tables (jsonb: table -> {rows, md5}) for every ordinary table outside the system schemas and
# extensions: md5 of the rows' md5(row::text), sorted in byte order (independent of physical order).
# shellcheck disable=SC2034
HAL9_PG_CHECKSUMS_SQL="$(cat <<'SQL'
SELECT coalesce(
    'SELECT jsonb_object_agg(name, v) AS tables FROM (' || string_agg(format(
        'SELECT %L AS name, (SELECT jsonb_build_object(''rows'', count(*), ''md5'', '
        'md5(coalesce(string_agg(h, '''' ORDER BY h COLLATE "C"), ''''))) '
        'FROM (SELECT md5(t::text) AS h FROM %I.%I AS t) AS s) AS v',
        n.nspname || '.' || c.relname, n.nspname, c.relname), ' UNION ALL '
        ORDER BY n.nspname, c.relname) || ') AS x',
    'SELECT ''{}''::jsonb AS tables') AS tables_query
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e') \gset
:tables_query \gset
SQL
)"
