"""Every SQL statement of the notifications service. Parameterised only."""

INSERT_NOTIFICATION = """
INSERT INTO notifications (id, recipient_user, recipient_role, type, data, source_event_id)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
ON CONFLICT DO NOTHING
"""
LIST_FOR = """
SELECT id, type, data, created_at, read_at
FROM notifications
WHERE recipient_user = $1 OR recipient_role = $2
ORDER BY created_at DESC, id
LIMIT $3
"""
