"""Serves the built web client (``web/dist``) with its runtime ``config.json``.

The client reads the services' base URLs from ``/config.json`` at start, so one build
works against any deployment. ``make run`` serves it on :8000; the browser tests on an
ephemeral port. Security headers: a Content-Security-Policy that allows scripts only
from this origin and connections only to the three services, no referrer, no framing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from aiohttp import web

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
DIST = WEB_DIR / "dist"
DEFAULT_EXIT_URL = "https://www.google.com/"


def client_config(forum: str, moderation: str, notifications: str, quick_exit_url: str = DEFAULT_EXIT_URL) -> dict:
    return {"forum": forum, "moderation": moderation, "notifications": notifications, "quick_exit_url": quick_exit_url}


def create_app(config: dict, dist: Path = DIST) -> web.Application:
    """An app serving ``dist`` (index.html for any unknown path) and ``config`` as /config.json.

    ``config`` is read on every request, so a caller may fill it in after the app has started
    (the browser tests learn the services' ports only once the web origin is known).
    """
    if not (dist / "index.html").is_file():
        raise FileNotFoundError(f"{dist}/index.html is missing: build the client first (make web)")

    def csp() -> str:
        services = " ".join(sorted({config.get(k, "") for k in ("forum", "moderation", "notifications")} - {""}))
        return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                f"connect-src 'self' {services}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

    @web.middleware
    async def headers(request: web.Request, handler) -> web.StreamResponse:
        response = await handler(request)
        response.headers["Content-Security-Policy"] = csp()
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        if request.path.startswith("/assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response

    async def config_json(request: web.Request) -> web.Response:
        return web.Response(body=json.dumps(config).encode(), content_type="application/json")

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(dist / "index.html")

    app = web.Application(middlewares=[headers])
    app.router.add_get("/config.json", config_json)
    app.router.add_get("/", index)
    if (dist / "assets").is_dir():
        app.router.add_static("/assets", dist / "assets")
    app.router.add_get("/{tail:.*}", index)
    return app


def build_client(web_dir: Path = WEB_DIR, *, quiet: bool = True) -> str | None:
    """Build the client when its sources are newer than ``dist``; the reason it could not, or None."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        return "node/npm not found: running without the web client (install Debian's nodejs and npm)"
    dist_index = web_dir / "dist" / "index.html"
    sources = [p for p in (web_dir / "src").rglob("*") if p.is_file()]
    sources += [web_dir / n for n in ("index.html", "package.json", "package-lock.json", "vite.config.ts")]
    if dist_index.is_file() and all(p.stat().st_mtime <= dist_index.stat().st_mtime for p in sources if p.exists()):
        return None
    out = subprocess.DEVNULL if quiet else None
    if not (web_dir / "node_modules").is_dir():
        if subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=web_dir,
                          stdout=out).returncode:
            return "npm ci failed in web/: running without the web client"
    if subprocess.run(["npm", "run", "--silent", "build"], cwd=web_dir, stdout=out).returncode:
        return "the web client's build failed (cd web && npm run build): running without it"
    return None


def main(argv: list[str] | None = None) -> int:
    """``python -m services.webclient --port 8000 --forum URL --moderation URL --notifications URL``"""
    import argparse

    parser = argparse.ArgumentParser(description="Serve Haven's web client")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--forum", default="http://127.0.0.1:8080")
    parser.add_argument("--moderation", default="http://127.0.0.1:8081")
    parser.add_argument("--notifications", default="http://127.0.0.1:8082")
    parser.add_argument("--quick-exit-url", default=DEFAULT_EXIT_URL)
    args = parser.parse_args(argv)
    config = client_config(args.forum, args.moderation, args.notifications, args.quick_exit_url)
    web.run_app(create_app(config), host=args.host, port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
