-- Support reactions: one of each kind per member per post.
CREATE TABLE reactions (
    post_id     uuid        NOT NULL REFERENCES posts (id),
    user_id     uuid        NOT NULL REFERENCES users (id),
    kind        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id, kind)
);
