-- Five finished simulation runs of user :'user' (psql -v user=NAME -f scripts/seed_runs.sql), so that the
-- read path of the service returns data. Shared by scripts/bench_serve.sh and scripts/_serve_env.sh.
INSERT INTO runs (id, owner_id, kind, config, status, result, created_at, started_at, finished_at)
SELECT md5(i::text), u.id, 'simulation', '{"neurons": 900, "steps": 100, "seed": 0}', 'succeeded',
       '{"layers": 9, "run_time_s": 0.5}', now() AT TIME ZONE 'utc' - i * interval '1 minute',
       now() AT TIME ZONE 'utc' - i * interval '1 minute', now() AT TIME ZONE 'utc'
FROM generate_series(1, 5) AS i, users AS u WHERE u.username = :'user';
