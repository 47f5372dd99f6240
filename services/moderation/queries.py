"""Every SQL statement of the moderation service. Parameterised only."""

from __future__ import annotations

UPSERT_POST = """
INSERT INTO posts (post_id, thread_id, community, author_id, version, title, body)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (post_id) DO UPDATE
SET version = excluded.version, title = excluded.title, body = excluded.body, updated_at = now()
WHERE posts.version < excluded.version
"""
LATEST_VERSION = "SELECT version FROM posts WHERE post_id = $1"
MARK_POST_DELETED = "UPDATE posts SET deleted = true, updated_at = now() WHERE post_id = $1"

DECISION_FOR_VERSION = """
SELECT id, event_id, post_id, version, author_id, community, outcome, reasons, scores, policy_version, model,
       created_at
FROM decisions WHERE post_id = $1 AND version = $2
"""
INSERT_DECISION = """
INSERT INTO decisions (id, event_id, post_id, version, author_id, community, outcome, reasons, signals, scores,
                       policy_version, model)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11, $12)
ON CONFLICT (post_id, version) DO NOTHING
RETURNING id
"""

INSERT_ESCALATION = """
INSERT INTO escalations (id, post_id, post_version, author_id, community, level, evidence, next_page_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
ON CONFLICT (post_id) DO NOTHING
RETURNING id, opened_at
"""
LIST_ESCALATIONS = """
SELECT id, post_id, post_version, author_id, community, level, status, evidence, opened_at, acknowledged_at,
       resolved_at, outcome,
       (status = 'open' AND opened_at < now() - make_interval(secs => $2)) AS overdue
FROM escalations
WHERE status = $1
ORDER BY CASE level WHEN 'imminent' THEN 0 WHEN 'high' THEN 1 ELSE 2 END, opened_at
LIMIT $3
"""

UPSERT_QUEUE_ITEM = """
INSERT INTO queue_items (id, post_id, community, author_id, priority, reasons)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (post_id) DO UPDATE
SET reasons = queue_items.reasons || excluded.reasons,
    priority = greatest(queue_items.priority, excluded.priority),
    status = 'open',
    updated_at = now()
"""
RESOLVE_QUEUE_ITEM = "UPDATE queue_items SET status = 'resolved', updated_at = now() WHERE post_id = $1"
LIST_QUEUE = """
SELECT q.id, q.post_id, q.community, q.author_id, q.status, q.priority, q.reasons, q.created_at, q.updated_at,
       p.version, p.title, p.body
FROM queue_items q LEFT JOIN posts p ON p.post_id = q.post_id
WHERE q.status = $1
ORDER BY q.priority DESC, q.created_at
LIMIT $2
"""

INSERT_REPORT = """
INSERT INTO reports (report_id, post_id, reporter_id, reason, note, post_version, body_snapshot)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING
RETURNING report_id
"""
POST_FOR_REPORT = "SELECT community, author_id FROM posts WHERE post_id = $1"
