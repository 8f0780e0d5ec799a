-- posture collector, schema 2: endpoints registered to an organisation (internal TLS
-- endpoints outside its domains, by host and port, 0 for any port), and what /metrics counts
-- of each target's latest observation: its leaf certificate's expiry (Unix milliseconds) and
-- the protocol versions it accepted (comma-separated names; absent for targets without TLS
-- facts, and for targets stored before this migration until their next observation).
CREATE TABLE endpoints (
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    organisation TEXT NOT NULL REFERENCES organisations(code),
    PRIMARY KEY (host, port)
);
ALTER TABLE targets ADD COLUMN certificate_expires BIGINT;
ALTER TABLE targets ADD COLUMN protocols TEXT;
-- Regressions (a check that passed and now fails) are read from the events by time: only
-- those events are indexed, so the index costs ingestion next to nothing.
CREATE INDEX events_regressions ON events (at) WHERE to_status = 'fail' AND from_status IN ('pass', 'warn');
-- What each agent last reported of itself in its heartbeat.
ALTER TABLE agents ADD COLUMN last_scan TEXT;
ALTER TABLE agents ADD COLUMN spool_depth BIGINT;
ALTER TABLE agents ADD COLUMN last_error TEXT;
