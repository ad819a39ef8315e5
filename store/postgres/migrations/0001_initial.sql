-- Tebura's schema, version 1. Records are JSON documents (type json, not
-- jsonb: a string may hold \u0000) carrying the same "v" version field as
-- store/bolt's values, beside the columns the queries need. Keys that come
-- from outside (alert fingerprints, group keys, dedupe keys, mark names)
-- are bytea: PostgreSQL text cannot hold a NUL byte.

-- counters hands out run and incident numbers inside the transaction that
-- uses them: a rolled-back create uses no number (a sequence would).
CREATE TABLE counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('runs', 0), ('incidents', 0);

CREATE TABLE runs (
    seq   bigint PRIMARY KEY,
    state text NOT NULL,
    final boolean NOT NULL,
    data  json NOT NULL
);
-- The runs that are not final: what start-up recovery and the expiry of
-- approvals list, at the cost of the active runs, not of the history.
CREATE INDEX runs_active ON runs (seq) WHERE NOT final;

CREATE TABLE locks (
    key    text PRIMARY KEY,
    run_id text NOT NULL,
    data   json NOT NULL
);

-- audit is the hash chain; the primary key refuses a fork even if the
-- advisory lock that serializes appenders were bypassed.
CREATE TABLE audit (
    seq  bigint PRIMARY KEY CHECK (seq > 0),
    data json NOT NULL
);

CREATE TABLE callbacks (
    id      text PRIMARY KEY,
    expires bigint, -- unix nanoseconds; NULL never expires
    data    json NOT NULL
);

CREATE TABLE dedupe (
    scope   bytea NOT NULL,
    key     bytea NOT NULL,
    expires bigint NOT NULL, -- unix nanoseconds
    PRIMARY KEY (scope, key)
);

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE outbox (
    platform text NOT NULL,
    id       text NOT NULL,
    data     json NOT NULL,
    PRIMARY KEY (platform, id)
);

CREATE TABLE incidents (
    number bigint PRIMARY KEY,
    open   boolean NOT NULL,
    data   json NOT NULL
);
CREATE INDEX incidents_open ON incidents (number) WHERE open;

-- incident_keys points a group key (kind 'g') or a chat channel (kind 'c',
-- platform NUL channel) at an incident.
CREATE TABLE incident_keys (
    kind   "char" NOT NULL,
    name   bytea NOT NULL,
    number bigint NOT NULL,
    PRIMARY KEY (kind, name)
);

-- incident_marks are the throttles and delivery IDs seen.
CREATE TABLE incident_marks (
    name bytea PRIMARY KEY,
    at   bigint NOT NULL -- unix nanoseconds
);

CREATE TABLE alerts (
    number      bigint NOT NULL,
    fingerprint bytea NOT NULL,
    data        json NOT NULL,
    PRIMARY KEY (number, fingerprint)
);

CREATE TABLE timeline (
    id     bigserial PRIMARY KEY,
    number bigint NOT NULL,
    data   json NOT NULL
);
CREATE INDEX timeline_number ON timeline (number, id);
