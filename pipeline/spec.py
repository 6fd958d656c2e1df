"""`.pushdock.yml` (untrusted, from the repo) → PipelineSpec, with file:line: key errors."""

from __future__ import annotations

import re

from pipeline.model import (
    BuildSpec,
    DeploySpec,
    HealthSpec,
    PipelineSpec,
    Resources,
    ServiceSpec,
    StepSpec,
    TestSpec,
)
from pipeline.yamldoc import Section, YamlDoc

SPEC_FILENAME = ".pushdock.yml"
_STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# An image reference: [registry/]name[:tag][@digest]; never an option for the engine.
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")


def parse_spec(text: str | bytes, filename: str = SPEC_FILENAME) -> PipelineSpec:
    return spec_from_section(YamlDoc.parse(text, filename).root())


def spec_from_section(root: Section) -> PipelineSpec:
    root.only("build", "test", "deploy")
    return PipelineSpec(
        build=_build(root.section("build")),
        test=_test(root.section("test")),
        deploy=_deploy(root.section("deploy")),
    )


def _relative_path(section: Section, key: str, default: str) -> str:
    value = section.string(key, default)
    parts = value.replace("\\", "/").split("/")
    if value.startswith("/") or ".." in parts or not value:
        raise section.error(key, f'"{value}" must be a path inside the repository')
    return value


def _build(section: Section) -> BuildSpec:
    section.only("dockerfile", "context", "args", "target")
    return BuildSpec(
        dockerfile=_relative_path(section, "dockerfile", "Dockerfile"),
        context=_relative_path(section, "context", "."),
        args=section.string_map("args"),
        target=section.string("target") or None,
    )


def _image(section: Section, key: str, *, required: bool = False) -> str | None:
    image = section.string(key, required=required)
    if not image:
        return None
    if not _IMAGE.match(image):
        raise section.error(key, f'"{image}" is not an image name')
    return image


def _resources(section: Section, default: Resources) -> Resources:
    section.only("cpus", "memory", "pids")
    return Resources(
        cpus=section.number("cpus", default.cpus),
        memory=section.size("memory", default.memory),
        pids=section.integer("pids", default.pids, minimum=16),
    )


def _env(section: Section, key: str) -> dict[str, str]:
    env = section.string_map(key)
    for name in env:
        if not _ENV_NAME.match(name):
            raise section.section(key).error(name, "is not a valid environment variable name")
    return env


def _services(section: Section) -> tuple[ServiceSpec, ...]:
    services = []
    for name, raw in section.data.items():
        if not _SERVICE_NAME.match(name):
            raise section.error(name, f'"{name}" must be lower-case letters, digits and "-" '
                                      "(it becomes the service's host name)")
        service = section.sub((*section.path, name), raw if raw is not None else {})
        service.only("image", "env", "command", "ready", "deadline")
        command = service.data.get("command")
        if command is not None:
            if isinstance(command, str):
                command = ("sh", "-c", command)
            else:
                command = service.string_list("command", ())
        deadline = service.duration("deadline", 60.0)
        if deadline <= 0:
            raise service.error("deadline", "must be greater than 0")
        services.append(ServiceSpec(
            name=name,
            image=_image(service, "image", required=True) or "",
            env=_env(service, "env"),
            command=command,
            ready=service.string("ready") or None,
            deadline=deadline,
        ))
    return tuple(services)


def _test(section: Section) -> TestSpec:
    section.only("resources", "services", "steps")
    services = _services(section.section("services"))
    resources = _resources(section.section("resources"), Resources())
    steps: list[StepSpec] = []
    names: set[str] = set()
    for path, raw in section.items("steps"):
        step = section.sub(path, raw)
        steps.append(_step(step, len(steps) + 1))
        if steps[-1].name in names:
            raise step.error("name", f'"{steps[-1].name}" is used by an earlier step')
        names.add(steps[-1].name)
    for step in steps:
        if step.name in {service.name for service in services}:
            raise section.error("steps", f'step "{step.name}" has the name of a service')
    return TestSpec(resources=resources, services=services, steps=tuple(steps))


def _step(step: Section, number: int) -> StepSpec:
    step.only("name", "run", "env", "timeout", "image", "workdir")
    name = step.string("name", f"step-{number}")
    if not _STEP_NAME.match(name):
        raise step.error("name", f'"{name}" may hold only letters, digits, "_", "." and "-"')
    run = step.string("run", required=True)
    if not run.strip():
        raise step.error("run", "is empty")
    timeout = step.duration("timeout", 600.0)
    if timeout <= 0:
        raise step.error("timeout", "must be greater than 0")
    workdir = step.string("workdir") or None
    if workdir is not None and not workdir.startswith("/"):
        raise step.error("workdir", f'"{workdir}" must be an absolute path in the container')
    return StepSpec(name=name, run=run, env=_env(step, "env"), timeout=timeout,
                    image=_image(step, "image"), workdir=workdir)


def _deploy(section: Section) -> DeploySpec:
    section.only("port", "health", "drain", "env", "resources", "keep")
    port = section.integer("port", 8000, minimum=1)
    if port > 65535:
        raise section.error("port", "must be a TCP port (1-65535)")
    return DeploySpec(
        port=port,
        health=_health(section.section("health")),
        drain=section.duration("drain", 10.0),
        env=_env(section, "env"),
        resources=_resources(section.section("resources"), Resources()),
        keep=section.integer("keep", 5, minimum=1),
    )


def _health(section: Section) -> HealthSpec:
    section.only("path", "interval", "timeout", "healthy_after", "deadline")
    # An empty or null path asks for a TCP connect to the port instead of an HTTP probe.
    path = "" if "path" in section and section.data["path"] is None \
        else section.string("path", "/healthz")
    if path and not path.startswith("/"):
        raise section.error("path", f'"{path}" must start with "/"')
    health = HealthSpec(
        path=path,
        interval=section.duration("interval", 1.0),
        timeout=section.duration("timeout", 5.0),
        healthy_after=section.integer("healthy_after", 2, minimum=1),
        deadline=section.duration("deadline", 60.0),
    )
    for key in ("interval", "timeout", "deadline"):
        if getattr(health, key) <= 0:
            raise section.error(key, "must be greater than 0")
    return health
