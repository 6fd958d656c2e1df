"""`pushdock accessory PROJECT NAME start|stop|restart|logs|remove`: a project's accessories
by hand. Start, stop, restart and remove take the project's deploy lock, so none of them
runs in the middle of a deploy."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import docker

from pipeline.accessories import declared_accessory
from pipeline.config import AccessorySpec, Project
from pipeline.deploy.accessories import Accessories
from pipeline.deploy.apps import Apps
from pipeline.engine import connect_docker
from pipeline.model import StageName, StageStatus
from pipeline.names import accessory_volume
from pipeline.projects import load_project
from pipeline.settings import Settings
from pipeline.store import Store, connect
from pushdock.output import fail, say


class AccessoryAction(StrEnum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"  # applies a changed definition, keeps the data
    LOGS = "logs"
    REMOVE = "remove"


class _Say:
    """A reporter that speaks on the terminal."""

    def stage(self, name: StageName, status: StageStatus) -> None:
        pass

    def log(self, line: str) -> None:
        say(line)


def accessory_command(settings: Settings, args: argparse.Namespace) -> int:
    project = load_project(settings.config_dir, args.project)
    accessory = declared_accessory(project, args.name)
    client = connect_docker()
    try:
        accessories = Accessories(client, _Say())
        action = AccessoryAction(args.action)
        if action is AccessoryAction.LOGS:
            for chunk in accessories.logs(project.name, accessory.name, follow=args.follow,
                                          tail=args.tail):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
            return 0
        if action is AccessoryAction.REMOVE and not args.yes:
            return _refuse_removal(project, accessory)
        with _locked(settings, project.name):
            return _act(settings, client, accessories, project, accessory, action)
    finally:
        client.close()


def _act(settings: Settings, client: docker.DockerClient, accessories: Accessories,
         project: Project, accessory: AccessorySpec, action: AccessoryAction) -> int:
    name = accessory.name
    if action is AccessoryAction.STOP:
        if not accessories.stop(project.name, name):
            say(f"{project.name}: accessory {name} is not on this engine")
        return 0
    if action is AccessoryAction.REMOVE:
        removed = accessories.remove(project.name, name)
        say(f"{project.name}: removed {', '.join(removed) or 'nothing (it was not there)'}")
        return 0
    network = _network(settings, client, project.name)
    if action is AccessoryAction.RESTART:
        accessories.restart(project.name, accessory, network)
    else:
        accessories.ensure(project.name, accessory, network)
    say(f"{project.name}: accessory {name} is running")
    return 0


def _refuse_removal(project: Project, accessory: AccessorySpec) -> int:
    volumes = [accessory_volume(project.name, accessory.name, volume)
               for volume in accessory.volumes]
    return fail(f"removing accessory {accessory.name} of {project.name} deletes its container "
                f"and its volumes ({', '.join(volumes) or 'none declared'}) with all their "
                "data; take a backup first, then run again with --yes")


@contextmanager
def _locked(settings: Settings, project: str) -> Iterator[None]:
    assert settings.redis_url is not None  # the command line found it first
    with Store(connect(settings.redis_url)).locks.deploy(project):
        yield


def _network(settings: Settings, client: docker.DockerClient, project: str) -> str:
    apps = Apps(client, settings.apps_network)
    apps.ensure_network()
    return apps.ensure_project_network(project)
