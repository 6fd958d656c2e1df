"""The WSGI entry point gunicorn serves: `webhooks.wsgi:app`."""

from __future__ import annotations

from webhooks.app import create_app

app = create_app()
