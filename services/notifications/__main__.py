"""``python -m services.notifications``: run the notifications service."""

from services.common.service import serve
from services.notifications.config import SCHEMA, NotificationsConfig
from services.notifications.main import MIGRATIONS, create_app

if __name__ == "__main__":
    serve("notifications", NotificationsConfig.from_env, create_app, SCHEMA, MIGRATIONS)
