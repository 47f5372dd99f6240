"""Every SQL statement of the notifications service. Parameterised only."""

# --- NOTIFY channels ----------------------------------------------------------------------------

# Every stored notification is announced here ({"seq", "user", "role"}), in stream order (stream.py listens).
STREAM_CHANNEL = "notifications_stream"
# New deliveries wake the delivery worker (delivery.py listens); its polling covers a lost one.
DELIVERIES_CHANNEL = "notifications_deliveries"
NOTIFY = "SELECT pg_notify($1, $2)"

# --- notifications ---------------------------------------------------------------------------

# Serialises inserts so that stream positions (seq) commit in order; see store.py.
LOCK_STREAM = "SELECT pg_advisory_xact_lock(hashtext('haven-notifications-stream'))"
INSERT_NOTIFICATION = """
INSERT INTO notifications (id, recipient_user, recipient_role, type, category, tier, data, source_event_id)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
ON CONFLICT DO NOTHING
RETURNING id, seq
"""
LIST_FOR = """
SELECT n.id, n.seq, n.type, n.category, n.data, n.created_at,
       (r.notification_id IS NOT NULL OR n.seq <= coalesce(m.read_through_seq, 0)) AS read
FROM notifications n
LEFT JOIN reads r ON r.notification_id = n.id AND r.user_id = $1
LEFT JOIN read_marks m ON m.user_id = $1
WHERE (n.recipient_user = $1 OR n.recipient_role = $2) AND ($3::bigint IS NULL OR n.seq < $3)
ORDER BY n.seq DESC
LIMIT $4
"""
STREAM_BACKLOG = """
SELECT n.id, n.seq, n.type, n.category, n.data, n.created_at FROM notifications n
WHERE (n.recipient_user = $1 OR n.recipient_role = $2) AND n.seq > $3
ORDER BY n.seq
LIMIT $4
"""
LATEST_SEQ = "SELECT coalesce(max(seq), 0) FROM notifications"
BY_SEQ = "SELECT id, seq, type, category, data, created_at, recipient_user, recipient_role FROM notifications WHERE seq = $1"
UNREAD_COUNT = """
SELECT count(*) FROM notifications n
LEFT JOIN reads r ON r.notification_id = n.id AND r.user_id = $1
WHERE (n.recipient_user = $1 OR n.recipient_role = $2) AND r.notification_id IS NULL
  AND n.seq > coalesce((SELECT read_through_seq FROM read_marks WHERE user_id = $1), 0)
"""
VISIBLE_ONE = "SELECT id FROM notifications n WHERE n.id = $3 AND (n.recipient_user = $1 OR n.recipient_role = $2)"
MARK_READ = "INSERT INTO reads (user_id, notification_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
MARK_ALL_READ = """
INSERT INTO read_marks (user_id, read_through_seq)
VALUES ($1, coalesce((SELECT max(seq) FROM notifications n WHERE n.recipient_user = $1 OR n.recipient_role = $2), 0))
ON CONFLICT (user_id) DO UPDATE SET read_through_seq = greatest(read_marks.read_through_seq, excluded.read_through_seq)
"""

# --- preferences and rota --------------------------------------------------------------------

GET_PREFERENCES = """
SELECT user_id, role, email, channels, quiet_start, quiet_end, digest FROM preferences WHERE user_id = $1
"""
UPSERT_PREFERENCES = """
INSERT INTO preferences (user_id, role, email, channels, quiet_start, quiet_end, digest)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
ON CONFLICT (user_id) DO UPDATE
SET role = excluded.role, email = excluded.email, channels = excluded.channels, quiet_start = excluded.quiet_start,
    quiet_end = excluded.quiet_end, digest = excluded.digest, updated_at = now()
"""
ROTA_ENTRY = "SELECT user_id, tier, on_rota FROM rota WHERE user_id = $1"
UPSERT_ROTA = """
INSERT INTO rota (user_id, tier, on_rota) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE SET tier = excluded.tier, on_rota = excluded.on_rota, updated_at = now()
"""
# forum.accounts' role.changed (handlers.follow_role_change): paging follows the account's role.
SET_PREFERENCES_ROLE = "UPDATE preferences SET role = $2, updated_at = now() WHERE user_id = $1"
LEAVE_ROTA = "DELETE FROM rota WHERE user_id = $1"
LIST_ROTA = "SELECT user_id, tier, on_rota, updated_at FROM rota ORDER BY tier, user_id"
# Everyone holding a role who gave an address, with their rota standing (crisis staff).
ROLE_EMAIL_RECIPIENTS = """
SELECT p.user_id, p.email, p.channels, p.quiet_start, p.quiet_end, p.digest,
       coalesce(r.on_rota, false) AS on_rota, r.tier
FROM preferences p LEFT JOIN rota r ON r.user_id = p.user_id
WHERE p.role = $1 AND p.email IS NOT NULL
"""

# --- webhooks -----------------------------------------------------------------------------

INSERT_ENDPOINT = """
INSERT INTO webhook_endpoints (id, owner_user, owner_role, url, secret) VALUES ($1, $2, $3, $4, $5)
RETURNING id, owner_user, owner_role, url, enabled, consecutive_failures, created_at
"""
LIST_ENDPOINTS = """
SELECT id, owner_user, owner_role, url, enabled, consecutive_failures, created_at, disabled_at
FROM webhook_endpoints ORDER BY created_at
"""
ENDPOINTS_FOR = """
SELECT id, owner_user FROM webhook_endpoints WHERE enabled AND (owner_user = $1 OR owner_role = $2)
"""
ENDPOINT_BY_ID = "SELECT id, url, secret, enabled, owner_user, owner_role FROM webhook_endpoints WHERE id = $1"
ENDPOINT_SUCCEEDED = "UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = $1"
# just_disabled is true exactly once: for the failure that turned an enabled endpoint off.
ENDPOINT_FAILED = """
WITH before AS (SELECT id, enabled AS was_enabled FROM webhook_endpoints WHERE id = $1 FOR UPDATE)
UPDATE webhook_endpoints w SET consecutive_failures = w.consecutive_failures + 1,
       enabled = CASE WHEN w.consecutive_failures + 1 >= $2 THEN false ELSE w.enabled END,
       disabled_at = CASE WHEN w.consecutive_failures + 1 >= $2 AND w.enabled THEN now() ELSE w.disabled_at END
FROM before
WHERE w.id = before.id
RETURNING w.enabled, (before.was_enabled AND NOT w.enabled) AS just_disabled
"""

# --- deliveries ---------------------------------------------------------------------------

# A batch still open to new items: pending, never tried, not due, and not leased. ``lease_until IS NULL``
# is what makes it safe: ``now()`` is this transaction's start, so the batch may be due and leased by a
# sender (who has read its items) by the time this runs; FOR UPDATE then waits for the lease to commit
# and re-checks these conditions, and a leased batch no longer matches (tests/integration/test_delivery_batches.py).
OPEN_BATCH = """
SELECT id FROM deliveries
WHERE batch_key = $1 AND status = 'pending' AND attempts = 0 AND lease_until IS NULL
  AND next_attempt_at > clock_timestamp()
ORDER BY created_at LIMIT 1
FOR UPDATE
"""
INSERT_DELIVERY = """
INSERT INTO deliveries (id, channel, target, batch_key, next_attempt_at) VALUES ($1, $2, $3, $4, $5)
"""
INSERT_DELIVERY_ITEM = """
INSERT INTO delivery_items (notification_id, channel, target, delivery_id) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
RETURNING delivery_id
"""
# Lease due deliveries (SKIP LOCKED: several instances share the work). A lease that
# ran out (its sender died) makes the delivery due again.
LEASE_DUE = """
UPDATE deliveries SET lease_until = now() + make_interval(secs => $2)
WHERE id IN (
    SELECT id FROM deliveries
    WHERE status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
    ORDER BY next_attempt_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, channel, target, attempts
"""
DELIVERY_ITEMS = """
SELECT n.id, n.type, n.category, n.data, n.created_at, n.recipient_user, n.recipient_role
FROM delivery_items i JOIN notifications n ON n.id = i.notification_id
WHERE i.delivery_id = $1
ORDER BY n.seq
"""
MARK_SENT = "UPDATE deliveries SET status = 'sent', sent_at = now(), attempts = attempts + 1, lease_until = NULL WHERE id = $1"
MARK_FAILED = """
UPDATE deliveries SET attempts = attempts + 1, last_error = $2, lease_until = NULL,
       status = CASE WHEN attempts + 1 >= $3 THEN 'dead' ELSE 'pending' END,
       next_attempt_at = now() + make_interval(secs => $4)
WHERE id = $1
"""
RECORD_ATTEMPT = """
INSERT INTO delivery_attempts (delivery_id, attempt, ok, status_code, error) VALUES ($1, $2, $3, $4, $5)
"""
DELIVERY_LOG = """
SELECT d.id, d.channel, d.status, d.attempts, d.created_at, d.sent_at, d.last_error,
       coalesce(json_agg(json_build_object('attempt', a.attempt, 'at', a.at, 'ok', a.ok,
                                           'status_code', a.status_code, 'error', a.error) ORDER BY a.attempt)
                FILTER (WHERE a.id IS NOT NULL), '[]') AS attempt_log
FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id
WHERE d.channel = 'webhook' AND d.target = $1
GROUP BY d.id
ORDER BY d.created_at DESC
LIMIT $2
"""


# --- retention (services/common/retention.py; $1 age as an interval, $2 batch size) -----------------

# Sent deliveries $1 after they were sent, with their items and attempts (one statement: the foreign keys
# are checked at its end). Pending and dead ones stay: those are still work, or evidence for an admin.
DELIVERY_RETENTION = """
WITH doomed AS MATERIALIZED (
    SELECT ctid, id FROM deliveries WHERE status = 'sent' AND sent_at < now() - $1::interval
    ORDER BY sent_at LIMIT $2 FOR UPDATE SKIP LOCKED
), attempts AS (
    DELETE FROM delivery_attempts WHERE delivery_id = ANY(ARRAY(SELECT id FROM doomed))
), items AS (
    DELETE FROM delivery_items WHERE delivery_id = ANY(ARRAY(SELECT id FROM doomed))
)
DELETE FROM deliveries WHERE ctid = ANY(ARRAY(SELECT ctid FROM doomed))
"""
