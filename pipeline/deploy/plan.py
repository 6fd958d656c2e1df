"""Names, labels, container arguments and proxy routes of an app (pure, tested on data)."""

from __future__ import annotations

from typing import Any

from pipeline.model import Color, DeploySpec

LABEL_PROJECT = "pushdock.project"
LABEL_COLOR = "pushdock.color"
LABEL_SHA = "pushdock.sha"
LABEL_RUN = "pushdock.run"
LABEL_ROLE = "pushdock.role"
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL when an old colour is stopped


def container_name(project: str, color: Color) -> str:
    return f"pushdock-{project}-{color.value}"


def route_id(project: str) -> str:
    return f"pushdock-{project}"


def app_labels(project: str, color: Color, sha: str, run_id: str) -> dict[str, str]:
    return {
        LABEL_PROJECT: project,
        LABEL_COLOR: color.value,
        LABEL_SHA: sha,
        LABEL_RUN: run_id,
        LABEL_ROLE: "app",
    }


def app_container_kwargs(*, project: str, color: Color, image: str, sha: str, run_id: str,
                         spec: DeploySpec, secrets: dict[str, str],
                         network: str) -> dict[str, Any]:
    return {
        "image": image,
        "name": container_name(project, color),
        "hostname": f"{project}-{color.value}",
        "environment": {**spec.env, **secrets, "PORT": str(spec.port)},
        "labels": app_labels(project, color, sha, run_id),
        "network": network,
        "restart_policy": {"Name": "unless-stopped"},
        "nano_cpus": int(spec.resources.cpus * 1e9),
        "mem_limit": spec.resources.memory,
        "pids_limit": spec.resources.pids,
        "security_opt": ["no-new-privileges"],
        "stop_signal": "SIGTERM",
        "init": True,  # PID 1 without a SIGTERM handler would ignore the stop signal
        "privileged": False,
        "detach": True,
    }


def server_config(listen: str) -> dict[str, Any]:
    """The one Caddy HTTP server Pushdock owns."""
    return {
        "listen": [listen],
        "routes": [],
        "automatic_https": {"disable": True},
    }


def route_config(project: str, host: str, upstream: str) -> dict[str, Any]:
    return {
        "@id": route_id(project),
        "match": [{"host": [host]}],
        "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": upstream}]}],
        "terminal": True,
    }
