-- The crisis screen's learned signals per post version (services/moderation/screen.py). The screen
-- writes them in its inbox transaction; the decision worker reads them instead of running the
-- encoder a second time. Not personal data: head probabilities and the nearest labelled examples.
CREATE TABLE screenings (
    post_id     uuid        NOT NULL,
    version     integer     NOT NULL,
    signals     jsonb       NOT NULL,
    screened_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, version)
);
