"""The access log of `pushdock serve`: the same lines as gunicorn's own logger writes."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from webhooks.access_log import AccessLogger

ENVIRON = {
    "REQUEST_METHOD": "POST", "RAW_URI": "/hooks/shop?x=1", "PATH_INFO": "/hooks/shop",
    "QUERY_STRING": "x=1", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.1.2.3",
    "HTTP_USER_AGENT": 'GitHub-Hookshot/abc "quoted"', "HTTP_X_GITHUB_EVENT": "push",
    "HTTP_AUTHORIZATION": "Basic ZGV2OnNlY3JldA==",  # dev:secret
}
REQUEST = SimpleNamespace(headers=[("USER-AGENT", ENVIRON["HTTP_USER_AGENT"]),
                                   ("X-GITHUB-EVENT", "push")])


def line(logger_class: type[Logger], cfg: Config, environ: dict[str, str],
         status: str = "202 ACCEPTED", sent: int | None = 92) -> str:
    logger = logger_class(cfg)
    logger.now = lambda: "[28/Nov/2026:11:00:00 +0000]"  # type: ignore[method-assign]
    response = SimpleNamespace(status=status, sent=sent,
                               headers=[("Content-Type", "application/json")])
    atoms = logger.atoms(response, REQUEST, environ, timedelta(microseconds=1500))
    return str(cfg.access_log_format % logger.atoms_wrapper_class(atoms))


@pytest.mark.parametrize("environ", [ENVIRON, {
    k: v for k, v in ENVIRON.items() if k not in ("HTTP_USER_AGENT", "HTTP_AUTHORIZATION")}])
@pytest.mark.parametrize("sent", [92, None])
def test_the_default_format_gives_gunicorns_line(environ: dict[str, str],
                                                 sent: int | None) -> None:
    cfg = Config()
    ours = line(AccessLogger, cfg, environ, sent=sent)
    assert ours == line(Logger, cfg, environ, sent=sent)
    if environ is ENVIRON and sent:
        assert ours == ('10.1.2.3 - dev [28/Nov/2026:11:00:00 +0000] "POST /hooks/shop?x=1 '
                        'HTTP/1.1" 202 92 "-" "GitHub-Hookshot/abc \\"quoted\\""')


def test_another_format_gets_every_field() -> None:
    cfg = Config()
    cfg.set("access_log_format", '%(m)s %(U)s %({x-github-event}i)s %(L)s %(p)s')
    assert line(AccessLogger, cfg, ENVIRON) == line(Logger, cfg, ENVIRON)
    assert line(AccessLogger, cfg, ENVIRON).startswith("POST /hooks/shop push 0.001500 <")
