"""moderation: detectors and policy on every post, the review queue and crisis escalations."""
