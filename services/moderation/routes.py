"""moderation's URL map (the HTTP contract; openapi.yaml documents it)."""

from aiohttp import web

from services.moderation import views


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/v1/queue", views.list_queue)
    app.router.add_get("/v1/queue/{item_id}", views.get_queue_item)
    app.router.add_post("/v1/queue/{item_id}/claim", views.claim_queue_item)
    app.router.add_post("/v1/queue/{item_id}/actions", views.act_on_queue_item)
    app.router.add_get("/v1/escalations", views.list_escalations)
    app.router.add_get("/v1/escalations/{escalation_id}", views.get_escalation)
    app.router.add_post("/v1/escalations/{escalation_id}/acknowledge", views.acknowledge_escalation)
    app.router.add_post("/v1/escalations/{escalation_id}/notes", views.add_escalation_note)
    app.router.add_post("/v1/escalations/{escalation_id}/resolve", views.resolve_escalation)
    app.router.add_post("/v1/escalations/{escalation_id}/outreach", views.send_outreach)
    app.router.add_get("/v1/audit", views.list_audit)
    app.router.add_post("/v1/users/{user_id}/unsuspend", views.unsuspend_user)
