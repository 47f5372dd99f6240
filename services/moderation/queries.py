"""Every SQL statement of the moderation service. Parameterised only."""

from __future__ import annotations

# $8: the author's role as forum stated it in the event (NULL from events older than issue 24).
UPSERT_POST = """
INSERT INTO posts (post_id, thread_id, community, author_id, version, title, body, author_role)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (post_id) DO UPDATE
SET version = excluded.version, title = excluded.title, body = excluded.body, updated_at = now(),
    author_role = coalesce(excluded.author_role, posts.author_role)
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

# The most urgent level first: $4 is services.common.domain.CRISIS_LEVELS (least to most urgent), so the
# order is spelled there only; then the oldest first.
LIST_ESCALATIONS = """
SELECT id, post_id, post_version, author_id, community, level, status, evidence, opened_at, upgraded_at,
       acknowledged_at, resolved_at, outcome, tier, page_count,
       (overdue OR (status = 'open' AND coalesce(upgraded_at, opened_at) < now() - make_interval(secs => $2)))
       AS overdue
FROM escalations
WHERE status = $1
ORDER BY array_position($4::text[], level) DESC NULLS LAST, opened_at
LIMIT $3
"""

RESOLVE_QUEUE_ITEM = "UPDATE queue_items SET status = 'resolved', updated_at = now() WHERE post_id = $1"


# --- post history and thread context ---------------------------------------------------

INSERT_POST_VERSION = """
INSERT INTO post_versions (post_id, version, title, body) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
"""
POST_HISTORY = "SELECT version, title, body, received_at FROM post_versions WHERE post_id = $1 ORDER BY version"
POST_BY_ID = """
SELECT post_id, thread_id, community, author_id, version, title, body, deleted, received_at FROM posts
WHERE post_id = $1
"""
# The posts around one in its thread (by the order moderation first saw them).
THREAD_CONTEXT = """
(SELECT post_id, author_id, version, body, received_at FROM posts
 WHERE thread_id = $1 AND received_at < $2 AND NOT deleted ORDER BY received_at DESC LIMIT $3)
UNION ALL
(SELECT post_id, author_id, version, body, received_at FROM posts
 WHERE thread_id = $1 AND received_at > $2 AND NOT deleted ORDER BY received_at LIMIT $3)
ORDER BY received_at
"""
LATEST_DECISION = """
SELECT id, version, outcome, reasons, signals, scores, policy_version, model, created_at
FROM decisions WHERE post_id = $1 ORDER BY version DESC LIMIT 1
"""

# --- queue ---------------------------------------------------------------------------------

QUEUE_PAGE = """
SELECT q.id, q.post_id, q.community, q.author_id, q.status, q.priority, q.reasons, q.claimed_by, q.claimed_until,
       q.top_score, q.report_weight, q.hidden_by_reports, q.created_at, q.updated_at, q.resolution,
       (q.status = 'open' AND q.created_at < now() - make_interval(secs => $6)) AS overdue
FROM queue_items q
WHERE q.status = $1
  AND ($2::text IS NULL OR q.community = $2)
  AND ($3::text IS NULL OR q.reasons @> jsonb_build_array(jsonb_build_object('code', $3::text)))
  -- keyset cursor: the sort key of the last item seen, all columns compared ascending
  AND ($4::jsonb IS NULL OR (-q.priority, -q.top_score, -q.report_weight, q.created_at, q.id)
        > (-($4->>0)::int, -($4->>1)::float8, -($4->>2)::float8, ($4->>3)::timestamptz, ($4->>4)::uuid))
ORDER BY q.priority DESC, q.top_score DESC, q.report_weight DESC, q.created_at, q.id
LIMIT $5
"""
QUEUE_ITEM = """
SELECT q.id, q.post_id, q.community, q.author_id, q.status, q.priority, q.reasons, q.claimed_by, q.claimed_until,
       q.top_score, q.report_weight, q.hidden_by_reports, q.created_at, q.updated_at, q.resolution,
       (q.status = 'open' AND q.created_at < now() - make_interval(secs => $2)) AS overdue
FROM queue_items q WHERE q.id = $1
"""
QUEUE_ITEM_FOR_UPDATE = """
SELECT id, post_id, community, author_id, status, priority, reasons, claimed_by, claimed_until, hidden_by_reports,
       (claimed_until IS NOT NULL AND claimed_until > now()) AS claim_live
FROM queue_items WHERE id = $1 FOR UPDATE
"""
CLAIM = """
UPDATE queue_items SET claimed_by = $2, claimed_until = now() + make_interval(secs => $3), updated_at = now()
WHERE id = $1
"""
RELEASE_AND_RESOLVE = """
UPDATE queue_items SET claimed_by = NULL, claimed_until = NULL, updated_at = now(),
       hidden_by_reports = CASE WHEN $2::text IS NULL THEN hidden_by_reports ELSE false END,
       status = CASE WHEN $2::text IS NULL THEN status ELSE 'resolved' END,
       resolution = coalesce($2, resolution),
       resolved_at = CASE WHEN $2::text IS NULL THEN resolved_at ELSE now() END
WHERE id = $1
"""
UPSERT_QUEUE_ITEM_SCORED = """
INSERT INTO queue_items (id, post_id, community, author_id, priority, reasons, top_score, report_weight)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
ON CONFLICT (post_id) DO UPDATE
SET reasons = queue_items.reasons || excluded.reasons,
    priority = CASE WHEN queue_items.status = 'resolved' THEN excluded.priority
                    ELSE greatest(queue_items.priority, excluded.priority) END,
    top_score = greatest(queue_items.top_score, excluded.top_score),
    report_weight = CASE WHEN excluded.report_weight > 0 THEN excluded.report_weight ELSE queue_items.report_weight END,
    created_at = CASE WHEN queue_items.status = 'resolved' THEN now() ELSE queue_items.created_at END,
    status = 'open', resolution = NULL, resolved_at = NULL,
    updated_at = now()
RETURNING id, hidden_by_reports
"""
MARK_HIDDEN_BY_REPORTS = "UPDATE queue_items SET hidden_by_reports = true WHERE id = $1"

# --- reports, appeals, records, notes ----------------------------------------------------

REPORTER_HISTORY = """
SELECT count(*) FILTER (WHERE outcome IS NOT NULL) AS resolved, count(*) FILTER (WHERE outcome = 'upheld') AS upheld
FROM reports WHERE reporter_id = $1
"""
INSERT_REPORT_WEIGHTED = """
INSERT INTO reports (report_id, post_id, reporter_id, reason, note, post_version, body_snapshot, weight)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING
RETURNING report_id
"""
REPORT_WEIGHT_OF_POST = """
SELECT coalesce(sum(weight), 0) FROM reports WHERE post_id = $1 AND outcome IS NULL
"""
REPORTS_OF_POST = """
SELECT report_id, reporter_id, reason, note, post_version, body_snapshot, weight, outcome, created_at
FROM reports WHERE post_id = $1 ORDER BY created_at
"""
RESOLVE_REPORTS = """
UPDATE reports SET outcome = $2, resolved_at = now() WHERE post_id = $1 AND outcome IS NULL
RETURNING reporter_id
"""
INSERT_APPEAL = """
INSERT INTO appeals (appeal_id, post_id, author_id, note, decision) VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT DO NOTHING
RETURNING appeal_id
"""
APPEALS_OF_POST = "SELECT appeal_id, note, decision, created_at FROM appeals WHERE post_id = $1 ORDER BY created_at"
USER_RECORD = "SELECT warnings, suspensions, suspended_until FROM user_records WHERE user_id = $1"
USER_RECORD_FOR_UPDATE = """
SELECT warnings, suspensions, suspended_until FROM user_records WHERE user_id = $1 FOR UPDATE
"""
# An admin lifted the suspension (the count of suspensions stays: it is the member's history).
LIFT_SUSPENSION = "UPDATE user_records SET suspended_until = NULL, updated_at = now() WHERE user_id = $1"
# The account's role: the latest role change forum announced (forum.accounts), else the role forum
# stated in the author's newest post event; NULL when moderation has never been told.
AUTHOR_ROLE = """
SELECT coalesce(
    (SELECT role FROM account_states WHERE user_id = $1),
    (SELECT author_role FROM posts WHERE author_id = $1 AND author_role IS NOT NULL
     ORDER BY updated_at DESC LIMIT 1))
"""
QUEUE_ITEM_SUBJECT = "SELECT post_id, author_id FROM queue_items WHERE id = $1"
RECORD_WARNING = """
INSERT INTO user_records (user_id, warnings) VALUES ($1, 1)
ON CONFLICT (user_id) DO UPDATE SET warnings = user_records.warnings + 1, updated_at = now()
"""
RECORD_SUSPENSION = """
INSERT INTO user_records (user_id, suspensions, suspended_until) VALUES ($1, 1, $2)
ON CONFLICT (user_id) DO UPDATE
SET suspensions = user_records.suspensions + 1, suspended_until = $2, updated_at = now()
"""
AUTHOR_DECISIONS = """
SELECT outcome, count(*) AS n FROM decisions WHERE author_id = $1 GROUP BY outcome
"""
AUTHOR_FIRST_SEEN = "SELECT min(received_at) FROM posts WHERE author_id = $1"
INSERT_NOTE = "INSERT INTO moderator_notes (id, queue_item_id, author_id, note) VALUES ($1, $2, $3, $4)"
NOTES_OF_ITEM = "SELECT id, author_id, note, created_at FROM moderator_notes WHERE queue_item_id = $1 ORDER BY created_at"

# --- audit -----------------------------------------------------------------------------------

INSERT_AUDIT = """
INSERT INTO audit_log (actor_id, actor_role, action, subject, reason, before, after)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)
"""
LAST_MODERATOR_VERDICT = """
SELECT action FROM audit_log
WHERE subject = $1 AND action IN ('queue.remove', 'queue.approve', 'queue.redact') ORDER BY id DESC LIMIT 1
"""
LAST_REMOVAL = """
SELECT id, at, actor_id, actor_role, action, subject, reason, before, after FROM audit_log
WHERE subject = $1 AND action = 'queue.remove' ORDER BY id DESC LIMIT 1
"""
AUDIT_PAGE = """
SELECT id, at, actor_id, actor_role, action, subject, reason, before, after FROM audit_log
WHERE ($1::uuid IS NULL OR actor_id = $1) AND ($2::text IS NULL OR subject = $2)
  AND ($3::text IS NULL OR action = $3) AND ($4::bigint IS NULL OR id > $4)
ORDER BY id
LIMIT $5
"""

# --- escalations ---------------------------------------------------------------------------

ESCALATION_FOR_UPDATE = """
SELECT id, post_id, author_id, level, status, tier, page_count, opened_at, acknowledged_at, resolved_at, outcome
FROM escalations WHERE id = $1 FOR UPDATE
"""
ESCALATION_BY_ID = """
SELECT id, post_id, post_version, author_id, community, level, status, evidence, opened_at, upgraded_at,
       acknowledged_at, acknowledged_by, resolved_at, outcome, tier, page_count,
       (overdue OR (status = 'open' AND coalesce(upgraded_at, opened_at) < now() - make_interval(secs => $2)))
       AS overdue
FROM escalations WHERE id = $1
"""
ESCALATION_NOTES = "SELECT id, author_id, note, created_at FROM escalation_notes WHERE escalation_id = $1 ORDER BY created_at"
ACKNOWLEDGE = """
UPDATE escalations SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2, next_page_at = NULL,
       overdue = false
WHERE id = $1
"""
RESOLVE_ESCALATION = """
UPDATE escalations SET status = 'resolved', resolved_at = now(), outcome = $2, next_page_at = NULL, overdue = false
WHERE id = $1
"""
INSERT_ESCALATION_NOTE = "INSERT INTO escalation_notes (id, escalation_id, author_id, note) VALUES ($1, $2, $3, $4)"
# Due re-pages; SKIP LOCKED lets several moderation instances share the timer table.
CLAIM_DUE_REPAGES = """
SELECT id, post_id, level, page_count FROM escalations
WHERE status = 'open' AND next_page_at IS NOT NULL AND next_page_at <= now()
ORDER BY next_page_at
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
RECORD_REPAGE = """
UPDATE escalations SET page_count = page_count + 1, tier = $2, overdue = true,
       next_page_at = now() + make_interval(secs => $3)
WHERE id = $1
"""
# A post has any number of resolved escalations and at most one live (open or acknowledged) one
# (migration 040). open_escalation serialises its callers per post with a transaction-scoped advisory
# lock, then reads the live escalation FOR UPDATE (acknowledge, resolve and the re-pager lock the row,
# not the post); the partial unique index, named by the INSERT's ON CONFLICT, is the backstop.
LOCK_POST_ESCALATIONS = "SELECT pg_advisory_xact_lock(hashtext('haven-escalations'), hashtext($1::text))"
LIVE_ESCALATION_OF_POST = """
SELECT id, post_id, post_version, covered_version, author_id, community, level, status, opened_at
FROM escalations WHERE post_id = $1 AND status <> 'resolved'
FOR UPDATE
"""
# The newest post version any of the post's escalations has taken in (NULL: never escalated).
COVERED_VERSION_OF_POST = "SELECT max(covered_version) FROM escalations WHERE post_id = $1"
INSERT_ESCALATION_LEVEL = """
INSERT INTO escalations (id, post_id, post_version, covered_version, author_id, community, level, evidence,
                         next_page_at)
VALUES ($1, $2, $3, $3, $4, $5, $6, $7::jsonb, $8)
ON CONFLICT (post_id) WHERE status <> 'resolved' DO NOTHING
RETURNING id, opened_at
"""
# A higher level: newest evidence first; a paging level needs acknowledging again and starts a new
# paging cycle ($5: pages).
UPGRADE_ESCALATION = """
UPDATE escalations
SET level = $2, post_version = greatest(post_version, $3), covered_version = greatest(covered_version, $3),
    evidence = $4::jsonb || evidence, upgraded_at = now(),
    status = CASE WHEN $5 THEN 'open' ELSE status END,
    next_page_at = CASE WHEN $5 THEN now() + make_interval(secs => $6) ELSE next_page_at END,
    acknowledged_at = CASE WHEN $5 THEN NULL ELSE acknowledged_at END,
    acknowledged_by = CASE WHEN $5 THEN NULL ELSE acknowledged_by END,
    tier = CASE WHEN $5 THEN 1 ELSE tier END,
    page_count = CASE WHEN $5 THEN 0 ELSE page_count END,
    overdue = CASE WHEN $5 THEN false ELSE overdue END
WHERE id = $1
RETURNING opened_at
"""
# A crisis signal at the same or a lower level for a newer version: taken in, nothing else changes.
COVER_VERSION = "UPDATE escalations SET covered_version = $2 WHERE id = $1 AND covered_version < $2"

# --- policies and replay (issue 3) ---------------------------------------------------------------

LATEST_POLICIES = """
SELECT DISTINCT ON (community) community, version, document, created_at FROM policies
ORDER BY community, created_at DESC
"""
INSERT_POLICY = """
INSERT INTO policies (community, version, document, created_by) VALUES ($1, $2, $3::jsonb, $4)
ON CONFLICT (community, version) DO NOTHING
RETURNING created_at
"""
POLICY_DOCUMENT = "SELECT document FROM policies WHERE community = $1 AND version = $2"
POLICY_HISTORY = """
SELECT community, version, created_at, created_by FROM policies
WHERE ($1::text IS NULL OR community = $1) ORDER BY community, created_at
"""
# Decided post versions received in [since, until), in keyset pages of (received_at, post_id, version).
REPLAY_PAGE = """
SELECT v.post_id, v.version, v.title, v.body, v.received_at, p.community, p.author_id, p.thread_id,
       d.outcome, d.reasons, d.policy_version, d.model
FROM post_versions v
JOIN posts p ON p.post_id = v.post_id
JOIN decisions d ON d.post_id = v.post_id AND d.version = v.version
WHERE v.received_at >= $1 AND v.received_at < $2
  AND ($3::text IS NULL OR p.community = $3)
  AND ($4::timestamptz IS NULL OR (v.received_at, v.post_id, v.version) > ($4, $5::uuid, $6::int))
ORDER BY v.received_at, v.post_id, v.version
LIMIT $7
"""

# --- crisis screen (services/moderation/handlers.py, CrisisScreenHandler) -----------------------------------------------

INSERT_SCREENING = """
INSERT INTO screenings (post_id, version, signals) VALUES ($1, $2, $3::jsonb)
ON CONFLICT (post_id, version) DO NOTHING
"""
SCREENINGS_OF = """
SELECT s.post_id, s.version, s.signals
FROM screenings s JOIN unnest($1::uuid[], $2::int[]) AS wanted(post_id, version)
  ON s.post_id = wanted.post_id AND s.version = wanted.version
"""
