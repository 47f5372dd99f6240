"""notifications' URL map (the HTTP contract; openapi.yaml documents it)."""

from aiohttp import web

from services.notifications import views


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/v1/notifications", views.list_notifications)
    app.router.add_get("/v1/notifications/unread-count", views.unread_count)
    app.router.add_post("/v1/notifications/read-all", views.mark_all_read)
    app.router.add_post("/v1/notifications/{notification_id}/read", views.mark_read)
    app.router.add_get("/v1/stream", views.stream)
    app.router.add_get("/v1/preferences", views.get_preferences)
    app.router.add_put("/v1/preferences", views.put_preferences)
    app.router.add_get("/v1/rota", views.list_rota)
    app.router.add_put("/v1/rota/{user_id}", views.put_rota)
    app.router.add_get("/v1/webhooks", views.list_webhooks)
    app.router.add_post("/v1/webhooks", views.create_webhook)
    app.router.add_get("/v1/webhooks/{webhook_id}/deliveries", views.webhook_deliveries)
