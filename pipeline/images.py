"""Images named by a pipeline (services, step images): on the engine, or pulled once."""

from __future__ import annotations

import docker
from docker.errors import APIError, ImageNotFound

from pipeline.errors import ImageUnavailable
from pipeline.reporting import Reporter


def ensure_image(client: docker.DockerClient, image: str, reporter: Reporter) -> None:
    try:
        client.images.get(image)
        return
    except ImageNotFound:
        pass
    reporter.log(f"pulling {image}")
    try:
        client.images.pull(image)
    except APIError as exc:
        raise ImageUnavailable(f"image {image} is not on this engine and could not be pulled: "
                               f"{exc.explanation or exc}") from None
