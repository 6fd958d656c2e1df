"""Who may do what: write actions need PUSHDOCK_TOKEN — as a bearer token on the API, or a
login that sets a session cookie in the browser, with a CSRF token on every form. Without a
token setting, write actions are off. Reads are public unless PUSHDOCK_PRIVATE=true."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from webhooks.services import services

blueprint = Blueprint("auth", __name__)


def session_key(token: str | None) -> bytes:
    """Same for every web process and restart while the token stays; new when it changes."""
    if not token:
        return secrets.token_bytes(32)
    return hmac.new(token.encode(), b"pushdock session", hashlib.sha256).digest()


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, with the signing serializer made once per key: Flask
    makes one for every request, webhooks too, though the key stays the same."""

    def __init__(self) -> None:
        self._serializer: tuple[object, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            self._serializer = cached
        return cached[1]


def _bearer_ok() -> bool:
    token = services().settings.token
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return bool(token and scheme.lower() == "bearer"
                and hmac.compare_digest(given.strip().encode(), token.encode()))


def logged_in() -> bool:
    return bool(services().settings.token and session.get("auth"))


def can_write() -> bool:
    return _bearer_ok() or logged_in()


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _deny(status: int, message: str) -> Any:
    if _is_api():
        return jsonify(error=message), status
    return render_template("message.html", title="Not allowed", message=message), status


def require_write(view: Callable[..., Any]) -> Callable[..., Any]:
    """API: a bearer token. Forms: a logged-in session and its CSRF token."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not services().settings.token:
            return _deny(403, "write actions are off: set PUSHDOCK_TOKEN to enable them")
        if _bearer_ok():
            return view(*args, **kwargs)
        if _is_api():
            return _deny(401, "a bearer token is required (Authorization: Bearer ...)")
        if not logged_in():
            return _deny(401, "log in with the token first")
        given = request.form.get("csrf", "")
        if not given or not hmac.compare_digest(given.encode(), csrf_token().encode()):
            return _deny(403, "the form is stale (CSRF token mismatch); reload and try again")
        return view(*args, **kwargs)

    return wrapped


def check_read() -> Any:
    """before_request: with PUSHDOCK_PRIVATE=true every read needs the token too."""
    if not services().settings.private:
        return None
    # Forges sign their webhooks; they never hold the token.
    if request.blueprint == "hooks" or request.endpoint in (
            None, "healthz", "auth.login", "auth.logout", "static"):
        return None
    if can_write():
        return None
    if _is_api():
        return _deny(401, "this Pushdock is private: a bearer token is required")
    return redirect(url_for("auth.login", next=request.path))


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    token = services().settings.token
    if not token:
        return render_template("message.html", title="Log in",
                               message="Write actions are off: PUSHDOCK_TOKEN is not set."), 403
    error = None
    if request.method == "POST":
        given = request.form.get("token", "")
        if hmac.compare_digest(given.encode(), token.encode()):
            session.clear()
            session["auth"] = True
            csrf_token()
            target = request.args.get("next", "/")
            return redirect(target if target.startswith("/") and not target.startswith("//")
                            else "/")
        error = "That is not the token."
    return render_template("login.html", error=error), (401 if error else 200)


@blueprint.post("/logout")
def logout():
    if session.get("auth") and not hmac.compare_digest(
            request.form.get("csrf", "").encode(), csrf_token().encode()):
        abort(403)
    session.clear()
    return redirect("/")
