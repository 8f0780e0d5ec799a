-- posture collector, schema 1 (PostgreSQL). Times are Unix milliseconds.
CREATE TABLE organisations (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE domains (
    name TEXT PRIMARY KEY,
    organisation TEXT NOT NULL REFERENCES organisations(code)
);
CREATE TABLE enrol_secrets (
    hash TEXT PRIMARY KEY,
    organisation TEXT NOT NULL REFERENCES organisations(code),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    organisation TEXT NOT NULL REFERENCES organisations(code),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_seen BIGINT,
    version TEXT,
    revoked_at BIGINT
);
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    organisation TEXT REFERENCES organisations(code),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE batches (
    agent TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    observations BIGINT NOT NULL,
    PRIMARY KEY (agent, idempotency_key)
);
CREATE TABLE observations (
    id TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    target_key TEXT NOT NULL,
    scoring_domain TEXT NOT NULL,
    agent TEXT NOT NULL,
    finished_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body BYTEA NOT NULL
);
CREATE INDEX observations_by_target ON observations (target_key, finished_at);
CREATE TABLE targets (
    key TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    scoring_domain TEXT NOT NULL,
    display TEXT NOT NULL,
    latest_observation TEXT NOT NULL,
    latest_at BIGINT NOT NULL
);
CREATE INDEX targets_by_domain ON targets (scoring_domain);
CREATE TABLE findings (
    target_key TEXT NOT NULL,
    check_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    organisation TEXT NOT NULL,
    domain TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    observed_at BIGINT NOT NULL,
    observation TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (target_key, check_id, variant)
);
CREATE INDEX findings_by_organisation ON findings (organisation, status);
CREATE INDEX findings_by_domain ON findings (domain);
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    target_key TEXT NOT NULL,
    check_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    organisation TEXT NOT NULL,
    domain TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    at BIGINT NOT NULL,
    observation TEXT NOT NULL
);
CREATE INDEX events_by_target ON events (target_key, at);
CREATE TABLE score_snapshots (
    day TEXT NOT NULL,
    level TEXT NOT NULL,
    subject TEXT NOT NULL,
    standard TEXT NOT NULL,
    score DOUBLE PRECISION,
    PRIMARY KEY (day, level, subject, standard)
);
-- Each domain's scores per standard as of its last judgement (a DomainScore as JSON); the
-- organisation and national scores are rolled up from these when asked.
CREATE TABLE domain_scores (
    domain TEXT NOT NULL,
    standard TEXT NOT NULL,
    organisation TEXT NOT NULL,
    judged_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (domain, standard)
);
-- One row per scoring domain, updated first in each judgement's transaction: judgements of
-- one domain (by several replicas) run one after another.
CREATE TABLE judge_locks (
    domain TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
CREATE TABLE policy_state (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL
);
