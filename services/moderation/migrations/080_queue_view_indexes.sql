-- The review queue's item view read moderation's copy of posts and its decisions by scanning them:
-- the thread context around a post (THREAD_CONTEXT: thread, then received_at on either side),
-- the author's first post (AUTHOR_FIRST_SEEN) and the author's record (AUTHOR_DECISIONS).
CREATE INDEX posts_thread_received ON posts (thread_id, received_at);
CREATE INDEX posts_author_received ON posts (author_id, received_at);
CREATE INDEX decisions_author ON decisions (author_id, outcome);
