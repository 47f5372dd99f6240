"""forum's URL map (the HTTP contract; openapi.yaml documents it)."""

from aiohttp import web

from services.forum import views


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/v1/auth/register", views.register)
    app.router.add_post("/v1/auth/login", views.login)
    app.router.add_post("/v1/auth/refresh", views.refresh)
    app.router.add_post("/v1/auth/logout", views.logout)
    app.router.add_post("/v1/auth/logout-all", views.logout_all)
    app.router.add_put("/v1/accounts/{user_id}/role", views.set_role)
    app.router.add_get("/v1/communities", views.list_communities)
    app.router.add_post("/v1/communities", views.create_community)
    app.router.add_get("/v1/communities/{slug}/threads", views.list_threads)
    app.router.add_post("/v1/communities/{slug}/threads", views.create_thread)
    app.router.add_get("/v1/threads/{thread_id}", views.get_thread)
    app.router.add_post("/v1/threads/{thread_id}/posts", views.create_reply)
    app.router.add_get("/v1/posts/{post_id}", views.get_post)
    app.router.add_patch("/v1/posts/{post_id}", views.edit_post)
    app.router.add_post("/v1/posts/{post_id}/reports", views.report_post)
    app.router.add_post("/v1/posts/{post_id}/appeal", views.appeal_post)
    app.router.add_post("/v1/posts/{post_id}/reactions", views.react_to_post)
