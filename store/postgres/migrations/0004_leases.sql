-- leases elects the leader among the replicas (package replica): one row
-- per lease, its holder ('' once released), the fencing token that grows
-- with every change of hands, and when it lapses.
CREATE TABLE leases (
    name    text PRIMARY KEY,
    holder  text NOT NULL,
    token   bigint NOT NULL,
    expires bigint NOT NULL -- unix nanoseconds
);
