"""The exceptions of the pipeline package: one base, one class per kind of failure."""

from __future__ import annotations


class PushdockError(Exception):
    """Base of every error Pushdock reports to a user as one line."""


class ConfigError(PushdockError):
    """A project file or .pushdock.yml is invalid; the message names file:line: key."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.detail = message
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class UnknownProject(PushdockError):
    """No project file defines this project."""


class CheckoutError(PushdockError):
    """The commit could not be fetched or checked out."""


class BuildError(PushdockError):
    """docker build failed."""


class StepFailed(PushdockError):
    """A test step exited non-zero, timed out or was killed."""


class DeployError(PushdockError):
    """The deploy sequence failed; the previously live color keeps serving."""


class HealthCheckFailed(DeployError):
    """The new color never became healthy within its deadline."""


class RouterError(PushdockError):
    """Caddy's admin API refused a change or could not be reached."""


class RouterConflict(RouterError):
    """Caddy's config changed between a read and a write conditioned on it (HTTP 412)."""


class RouterDisconnected(RouterError):
    """Caddy's admin API closed or refused the connection mid-request (it restarts with
    every config change); such a request is retried."""


class DnsMessageError(PushdockError):
    """A datagram sent to the upstream resolver is not a DNS query it can read."""


class UpstreamLookupFailed(PushdockError):
    """The upstream resolver knows nothing of a project and cannot ask Redis now."""


class StoreUnavailable(PushdockError):
    """Redis could not be reached."""


class EngineUnavailable(PushdockError):
    """No Docker engine answers."""


class RunStopped(PushdockError):
    """The run was cancelled, superseded or ran out of time; `status` says which."""

    def __init__(self, status: str, reason: str) -> None:
        self.status = status
        super().__init__(reason)


class ServiceFailed(PushdockError):
    """A sidecar service could not be started or never became ready."""


class ImageUnavailable(PushdockError):
    """An image is neither on the engine nor pullable."""
class StatusReportFailed(PushdockError):
    """The forge did not take a commit status; the run goes on regardless."""


class WaitForApproval(PushdockError):
    """The run has passed what it may do unasked: it waits for a person (RunStatus.WAITING)."""


class BackupFailed(PushdockError):
    """A backup or a restore did not finish: nothing was written, or restored."""
