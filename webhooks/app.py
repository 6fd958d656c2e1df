"""The Flask application factory."""

from __future__ import annotations

from flask import Flask, jsonify

from pipeline.errors import ConfigError
from pipeline.projects import ProjectFiles
from pipeline.settings import Settings
from pipeline.store import Store, connect
from webhooks import api, auth, hooks, pages
from webhooks.services import Services
from workers.queue import job_connection, run_queue


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    if not settings.redis_url:
        raise ConfigError("PUSHDOCK_REDIS_URL is not set (`pushdock up` starts an embedded "
                          "Redis; `pushdock serve` needs one given)")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    app.extensions["pushdock"] = Services(
        settings=settings,
        store=Store(connect(settings.redis_url)),
        queue=run_queue(job_connection(settings.redis_url)),
        projects=ProjectFiles(settings.config_dir),
    )
    app.secret_key = auth.session_key(settings.token)
    app.session_interface = auth.CookieSessions()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="pushdock_session")
    app.register_blueprint(hooks.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(auth.blueprint)
    app.before_request(auth.check_read)

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True)

    @app.after_request
    def security_headers(response):
        # Scripts only from this origin: a log line or commit message can never run as code.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.errorhandler(413)
    def too_large(_error: Exception):
        return jsonify(error=f"body larger than {settings.max_body} bytes "
                             "(PUSHDOCK_MAX_BODY)"), 413

    return app
