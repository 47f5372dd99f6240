"""``python -m services.moderation``: run the moderation service."""

from services.common.service import serve
from services.moderation.config import SCHEMA, ModerationConfig
from services.moderation.main import MIGRATIONS, create_app

if __name__ == "__main__":
    serve("moderation", ModerationConfig.from_env, create_app, SCHEMA, MIGRATIONS)
