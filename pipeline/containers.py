"""A container Pushdock asks the engine for, as plain data (pure, tested on data).

Steps, services and app containers are each described by one ContainerSpec, and docker-py
sees only what `kwargs()` makes of it: nothing a repository's file says can add mounts,
devices, capabilities or privileges, because there is no field for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only named in annotations: the supervisor loads no config
    from pipeline.config import Resources


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    name: str
    labels: dict[str, str]
    network: str
    resources: Resources
    environment: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None  # None: the image's own
    hostname: str | None = None
    aliases: tuple[str, ...] = ()  # further names on `network`, for the other containers
    working_dir: str | None = None  # None: the image's WORKDIR
    swap: bool = True  # False: a container over its memory limit is killed, not swapped
    restart: bool = False  # restarted by the engine unless Pushdock stopped it
    stop_signal: str | None = None
    init: bool = False  # an init as PID 1 reaps zombies and forwards signals
    # (volume name, path in the container): named volumes only, never a directory of the host
    volumes: tuple[tuple[str, str], ...] = ()

    def kwargs(self) -> dict[str, Any]:
        """docker-py's arguments of containers.create (or containers.run)."""
        kwargs: dict[str, Any] = {
            "image": self.image,
            "name": self.name,
            "environment": dict(self.environment),
            "labels": dict(self.labels),
            "network": self.network,
            "nano_cpus": int(self.resources.cpus * 1e9),
            "mem_limit": self.resources.memory,
            "pids_limit": self.resources.pids,
            "security_opt": ["no-new-privileges"],
            "privileged": False,
            "detach": True,
        }
        if self.command is not None:
            kwargs["command"] = list(self.command)
        if self.hostname is not None:
            kwargs["hostname"] = self.hostname
        if self.aliases:
            kwargs["networking_config"] = {self.network: {"Aliases": list(self.aliases)}}
        if self.working_dir:
            kwargs["working_dir"] = self.working_dir
        if not self.swap:
            kwargs["memswap_limit"] = self.resources.memory
        if self.restart:
            kwargs["restart_policy"] = {"Name": "unless-stopped"}
        if self.stop_signal is not None:
            kwargs["stop_signal"] = self.stop_signal
        if self.init:
            kwargs["init"] = True
        if self.volumes:
            kwargs["mounts"] = [{"Type": "volume", "Source": source, "Target": target,
                                 "ReadOnly": False} for source, target in self.volumes]
        return kwargs
