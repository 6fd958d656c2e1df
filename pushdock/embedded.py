"""The embedded default of `pushdock up`: a private redis-server and a Caddy of its own."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.parse
from pathlib import Path

from pipeline.deploy.plan import GRACE_PERIOD, SERVER, server_config
from pipeline.records.light_redis import LightRedis
from pushdock.errors import MissingProgram
from pushdock.supervisor import Child

UNIX_SOCKET_MAX = 100  # sun_path holds 108 bytes


def require(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise MissingProgram(f"{program} is not installed (Debian package {package}); "
                             "run script/bootstrap, or set the setting that points elsewhere")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_child(data_dir: Path) -> tuple[Child, str]:
    """A redis-server with AOF on and its data under DATA_DIR/redis; returns it and its URL."""
    directory = (data_dir / "redis").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    argv = [require("redis-server", "redis-server"), "--bind", "127.0.0.1",
            "--dir", str(directory), "--appendonly", "yes", "--save", "",
            "--daemonize", "no", "--protected-mode", "yes"]
    if len(str(sock)) <= UNIX_SOCKET_MAX:
        argv += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url = f"unix://{sock}"
    else:
        port = free_port()
        argv += ["--port", str(port)]
        url = f"redis://127.0.0.1:{port}/0"
    return Child("redis-server", argv, log=directory / "redis.log"), url


def redis_ready(url: str) -> bool:
    light = LightRedis.from_url(url, timeout=1)
    if light is not None:  # the supervisor stays small: no redis-py for a PING
        try:
            return light.ping()
        finally:
            light.close()
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


def caddy_config(admin_url: str, proxy_listen: str, *, https: bool = False
                 ) -> dict[str, object]:
    admin = urllib.parse.urlsplit(admin_url)
    return {
        "admin": {"listen": admin.netloc},
        "apps": {"http": {"grace_period": GRACE_PERIOD,
                          "servers": {SERVER: server_config(proxy_listen, https=https)}}},
    }


def caddy_child(data_dir: Path, admin_url: str, proxy_listen: str,
                env: dict[str, str], *, https: bool = False) -> Child:
    directory = (data_dir / "caddy").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "caddy.json"
    config.write_text(json.dumps(caddy_config(admin_url, proxy_listen, https=https), indent=2))
    # Caddy keeps its state (autosave, certificates) here rather than in the user's home.
    child_env = {**env, "XDG_CONFIG_HOME": str(directory), "XDG_DATA_HOME": str(directory)}
    return Child("caddy", [require("caddy", "caddy"), "run", "--config", str(config)],
                 env=child_env, log=directory / "caddy.log")
