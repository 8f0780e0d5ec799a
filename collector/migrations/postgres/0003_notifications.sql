-- posture collector, schema 3: alerts to the people who can fix a problem.
-- Owner contacts: an organisation's default (scope '') or one domain's or endpoint host's
-- (scope = that name); kind is email, webhook (JSON) or chat (Slack / Teams text webhook).
CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    organisation TEXT NOT NULL REFERENCES organisations(code),
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (organisation, scope, kind, address)
);
-- What owners were last told of each failing (target, check): one row per failure episode
-- (since), its next reminder and whether it was acknowledged.
CREATE TABLE alert_states (
    target_key TEXT NOT NULL,
    check_id TEXT NOT NULL,
    organisation TEXT NOT NULL,
    domain TEXT NOT NULL,
    state TEXT NOT NULL,
    since BIGINT NOT NULL,
    last_sent BIGINT NOT NULL,
    next_reminder BIGINT,
    reminders BIGINT NOT NULL DEFAULT 0,
    acked_at BIGINT,
    PRIMARY KEY (target_key, check_id)
);
-- Each message to one contact (one per contact and evaluation), rendered when made, with its
-- delivery: attempts, the next attempt, a lease while one collector sends it, the outcome.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    lease_until BIGINT,
    delivered_at BIGINT,
    failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX notifications_pending ON notifications (next_attempt) WHERE delivered_at IS NULL AND failed_at IS NULL;
-- What each message said of which (target, check): failing, regression, reminder or resolved.
CREATE TABLE notification_items (
    notification TEXT NOT NULL,
    target_key TEXT NOT NULL,
    check_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (notification, target_key, check_id)
);
CREATE INDEX notification_items_by_domain ON notification_items (domain);
-- The notifier's place in the events (the last event id it has turned into messages) and the
-- secret that signs acknowledgement links. Its row is updated first in each evaluation, so
-- replicas evaluate one after another.
CREATE TABLE notifier_state (
    id BIGINT PRIMARY KEY,
    cursor BIGINT NOT NULL,
    secret TEXT NOT NULL
);
