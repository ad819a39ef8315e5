-- The web view's sessions and one-time sign-in links, keyed by a hash of
-- their secret, so that every replica knows every session and a link is
-- handed out once across all of them.
CREATE TABLE web_sessions (
    key     text PRIMARY KEY,
    expires bigint NOT NULL, -- unix nanoseconds
    data    bytea NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires);
