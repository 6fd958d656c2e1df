"""HTTP to Caddy's admin API, for the router: one requests session per router.

Caddy restarts its admin endpoint with every config change, so a request racing another
writer's change can meet a refused or closed connection: urllib3 asks again, whatever the
method, as every write Pushdock makes is idempotent or carries an If-Match ETag (a repeat
of a conditional write that had worked no longer matches, and Caddy refuses it with 412).
A request that timed out is not asked again: Caddy was slow, not restarting, and a repeat
would wait as long again.

The router imports this module on its first request, so that importing the router (the
web service and the CLI do) does not load requests.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from pipeline.errors import RouterConflict, RouterDisconnected, RouterError
from pipeline.http_errors import error_detail, failure_reason

if TYPE_CHECKING:
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

RECONNECTS = 4  # five attempts, 0.7 s of waits between them: time for the endpoint to return
BACKOFF = 0.05  # seconds; urllib3 asks the second time at once, then doubles from 0.1 s


class _Reconnects(Retry):
    """Retries a refused or dropped connection, never a timeout."""

    def increment(self, method: str | None = None, url: str | None = None,
                  response: BaseHTTPResponse | None = None, error: Exception | None = None,
                  _pool: ConnectionPool | None = None,
                  _stacktrace: TracebackType | None = None) -> Self:
        # urllib3 files a refused connection (NewConnectionError) under timeouts too.
        if isinstance(error, Urllib3Timeout) and not isinstance(error, NewConnectionError):
            # As with no retries left: requests then raises its Timeout.
            spent = self.new(total=0, read=False)
            return Retry.increment(spent, method, url, response, error, _pool, _stacktrace)
        return super().increment(method, url, response, error, _pool, _stacktrace)


class AdminAPI:
    """Requests to one Caddy's admin API; a router's own, not shared between threads."""

    def __init__(self, admin_url: str, timeout: float) -> None:
        self.admin_url = admin_url
        self.timeout = timeout
        self.session = requests.Session()
        retry = _Reconnects(total=RECONNECTS, allowed_methods=None, backoff_factor=BACKOFF,
                            respect_retry_after_header=False)
        self.session.mount(admin_url + "/", HTTPAdapter(max_retries=retry))

    def send(self, method: str, path: str, body: Any = None,
             if_match: str | None = None) -> requests.Response:
        """Caddy's answer, whatever its status; no answer at all is a RouterError."""
        headers = {"If-Match": if_match} if if_match else None
        try:
            return self.session.request(method, self.admin_url + path, json=body,
                                        headers=headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise self._unreachable(exc, RouterError) from None
        except requests.ConnectionError as exc:
            if if_match:
                # Caddy can answer 412 before it read the body and close, which the client
                # can see as a reset; the caller re-reads the config either way.
                raise RouterConflict(failure_reason(exc)) from None
            raise self._unreachable(exc, RouterDisconnected) from None
        except requests.RequestException as exc:
            raise self._unreachable(exc, RouterError) from None

    def request(self, method: str, path: str, body: Any = None,
                if_match: str | None = None) -> bytes:
        """The body of Caddy's success answer; a 412 is a RouterConflict."""
        return self.checked(self.send(method, path, body, if_match), method, path)

    @staticmethod
    def checked(response: requests.Response, method: str, path: str) -> bytes:
        if response.ok:
            return response.content
        detail = error_detail(response)
        if response.status_code == requests.codes.precondition_failed:
            raise RouterConflict(detail)
        raise RouterError(f"Caddy refused {method} {path}: {response.status_code} {detail}")

    def reachable(self) -> bool:
        """Asked once, on a connection of its own: a probe must not wait out the retries."""
        try:
            return requests.get(self.admin_url + "/config/", timeout=self.timeout).ok
        except requests.RequestException:
            return False

    def _unreachable(self, exc: requests.RequestException,
                     kind: type[RouterError]) -> RouterError:
        return kind(f"Caddy's admin API at {self.admin_url} is unreachable: "
                    f"{failure_reason(exc)}")
