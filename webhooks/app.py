"""The Flask application factory."""

from __future__ import annotations

from flask import Flask, jsonify

from pipeline.errors import ConfigError
from pipeline.projects import ProjectFiles
from pipeline.settings import Settings
from pipeline.store import Store, connect
from webhooks import hooks, pages
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
    app.register_blueprint(hooks.blueprint)
    app.register_blueprint(pages.blueprint)

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True)

    @app.errorhandler(413)
    def too_large(_error: Exception):
        return jsonify(error=f"body larger than {settings.max_body} bytes "
                             "(PUSHDOCK_MAX_BODY)"), 413

    return app
