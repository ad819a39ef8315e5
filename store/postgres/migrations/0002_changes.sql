-- Changes to services (deploys, syncs) that incident cards list as hints.
-- The ID is the source's (a webhook delivery's), so a retried delivery is
-- stored once; it and the service come from outside, hence bytea.
CREATE TABLE changes (
    id      bytea PRIMARY KEY,
    service bytea NOT NULL,
    at      bigint NOT NULL, -- unix nanoseconds the change took effect
    data    json NOT NULL
);
CREATE INDEX changes_service_at ON changes (service, at);
CREATE INDEX changes_at ON changes (at);
