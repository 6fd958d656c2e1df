"""Runs one blue/green deploy in its own process, so a test can SIGKILL it mid-way.

Usage: python tests/deploy_driver.py '<json>' (keys: see main).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.deploy.bluegreen import BlueGreen, DeployRequest
from pipeline.deploy.history import spec_from_dict
from pipeline.deploy.router import CaddyRouter
from pipeline.engine import connect_docker
from pipeline.settings import Settings
from pipeline.store import Store, connect


class Print:
    def log(self, line: str) -> None:
        print(line, flush=True)

    def stage(self, *_: object) -> None:
        pass


def main(raw: str) -> None:
    job = json.loads(raw)
    settings = Settings(redis_url=job["redis_url"], caddy_admin=job["caddy_admin"],
                        proxy_listen=job["proxy_listen"], apps_network=job["network"],
                        resolver=job["resolver"])
    store = Store(connect(job["redis_url"]))
    bluegreen = BlueGreen(connect_docker(), store, CaddyRouter.from_settings(settings, store),
                          settings, Print(), lock_ttl=job["lock_ttl"])
    bluegreen.deploy(DeployRequest(project=job["project"], host=job["host"],
                                   image=job["image"], sha=job["sha"], run_id=job["run"],
                                   trigger="push", spec=spec_from_dict(job["spec"]),
                                   secrets={}))
    print("deployed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
