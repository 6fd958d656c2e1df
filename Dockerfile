# Pushdock: the web service and the worker, from one image.
#
#   script/wheelhouse        # wheels of Pushdock and its dependencies, built on the host
#   docker build -t pushdock .
#
# pip needs no network: it reads only wheelhouse/. The base must be Debian-based (bookworm)
# with Python 3.11+ and `python3 -m venv`; GitPython needs `git`, installed with apt when
# the base lacks it; the docker CLI comes from Debian's docker.io package (these steps
# alone need Debian's mirrors).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# The worker builds through the docker command line with BuildKit (pipeline/docker_cli.py):
# Debian's 20.10 client builds with BuildKit by itself. Only its binary is kept; the rest
# of the package (the engine, containerd) is not needed beside the host's engine.
FROM ${BASE_IMAGE} AS docker-cli
RUN apt-get update && cd /tmp && apt-get download docker.io \
    && dpkg-deb -x docker.io_*.deb /tmp/docker.io && rm -rf /var/lib/apt/lists/*

FROM ${BASE_IMAGE}
COPY --from=docker-cli /tmp/docker.io/usr/bin/docker /usr/local/bin/docker

ARG DEBIAN_FRONTEND=noninteractive
RUN if ! command -v git >/dev/null 2>&1; then \
      apt-get update && apt-get install -y --no-install-recommends git ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi

# Not root: the worker reaches the Docker socket through its group, added at run time
# (`group_add` in docker-compose.yml, the socket's gid in PUSHDOCK_DOCKER_GID).
RUN groupadd --system --gid 10001 pushdock \
    && useradd --system --uid 10001 --gid pushdock --home-dir /var/lib/pushdock \
       --shell /usr/sbin/nologin pushdock \
    && mkdir -p /var/lib/pushdock /etc/pushdock/pipelines.d \
    && chown pushdock:pushdock /var/lib/pushdock

COPY wheelhouse/ /tmp/wheelhouse/
RUN python3 -m venv /opt/pushdock \
    && /opt/pushdock/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse \
       --disable-pip-version-check pushdock \
    && rm -rf /tmp/wheelhouse

ENV PATH=/opt/pushdock/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PUSHDOCK_DATA_DIR=/var/lib/pushdock \
    PUSHDOCK_CONFIG_DIR=/etc/pushdock/pipelines.d \
    PUSHDOCK_BIND=0.0.0.0:8080

USER pushdock
WORKDIR /var/lib/pushdock
EXPOSE 8080
# The web service's check; the worker's (`pushdock healthcheck worker`) is set in the
# compose file, which runs both from this image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["pushdock", "healthcheck", "web"]
CMD ["pushdock", "serve"]
