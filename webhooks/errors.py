"""The exceptions of the web service: each maps to one HTTP answer."""

from __future__ import annotations


class WebhookError(Exception):
    status = 400


class BadSignature(WebhookError):
    status = 401


class MalformedPayload(WebhookError):
    status = 400


class WrongForge(WebhookError):
    status = 400
