from __future__ import annotations

from flask import Flask

from webhooks.auth import CookieSessions


def test_the_session_serializer_is_made_once_per_key() -> None:
    app = Flask(__name__)
    app.secret_key = "one"
    sessions = CookieSessions()
    first = sessions.get_signing_serializer(app)
    assert first is not None and sessions.get_signing_serializer(app) is first
    assert first.loads(first.dumps({"auth": True})) == {"auth": True}
    app.secret_key = "two"
    second = sessions.get_signing_serializer(app)
    assert second is not None and second is not first and second.secret_keys == [b"two"]
    app.secret_key = None
    assert sessions.get_signing_serializer(app) is None
