"""Haven: the forum, moderation and notifications services."""
