-- run_logs keeps each run's (masked, capped) log in chunks as it is
-- produced, so that every replica can serve a log another one wrote.
CREATE TABLE run_logs (
    run_id text NOT NULL,
    seq    integer NOT NULL,
    data   bytea NOT NULL,
    written bigint NOT NULL, -- unix nanoseconds, for log_retention
    PRIMARY KEY (run_id, seq)
);
