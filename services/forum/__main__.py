"""``python -m services.forum``: run the forum service."""

from services.common.service import serve
from services.forum.config import SCHEMA, ForumConfig
from services.forum.main import MIGRATIONS, create_app

if __name__ == "__main__":
    serve("forum", ForumConfig.from_env, create_app, SCHEMA, MIGRATIONS)
