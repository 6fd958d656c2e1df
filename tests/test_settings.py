from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.config_dir == Path("pipelines.d")
    assert settings.data_dir == Path("var")
    assert settings.redis_url is None
    assert settings.caddy_admin == "http://127.0.0.1:2019"
    assert settings.proxy_listen == ":8000"
    assert settings.bind == "127.0.0.1:8080"
    assert settings.apps_network == "pushdock-apps"
    assert settings.proxy_address == ("127.0.0.1", 8000)
    assert settings.base_url == "http://127.0.0.1:8080"


def test_every_setting_is_read() -> None:
    settings = Settings.from_env({
        "PUSHDOCK_CONFIG_DIR": "/etc/pushdock", "PUSHDOCK_DATA_DIR": "/srv/pd",
        "PUSHDOCK_REDIS_URL": "redis://r:6379/2", "PUSHDOCK_CADDY_ADMIN": "http://c:2019/",
        "PUSHDOCK_PROXY_LISTEN": "0.0.0.0:80", "PUSHDOCK_BIND": "0.0.0.0:9000",
        "PUSHDOCK_TOKEN": "t", "PUSHDOCK_APPS_NETWORK": "apps",
        "PUSHDOCK_PROXY_CHECK": "caddy:80",
    })
    assert settings.config_dir == Path("/etc/pushdock")
    assert settings.data_dir == Path("/srv/pd")
    assert settings.redis_url == "redis://r:6379/2"
    assert settings.caddy_admin == "http://c:2019"
    assert settings.proxy_listen == "0.0.0.0:80"
    assert settings.proxy_address == ("caddy", 80)
    assert settings.bind == "0.0.0.0:9000"
    assert settings.token == "t"
    assert settings.apps_network == "apps"


def test_bad_listen_address() -> None:
    with pytest.raises(ConfigError, match="PUSHDOCK_PROXY_LISTEN"):
        Settings.from_env({"PUSHDOCK_PROXY_LISTEN": "eighty"})
    with pytest.raises(ConfigError, match="PUSHDOCK_PROXY_CHECK"):
        Settings.from_env({"PUSHDOCK_PROXY_CHECK": "caddy"})


def test_proxy_check_defaults_to_the_listen_address_here() -> None:
    settings = Settings.from_env({"PUSHDOCK_PROXY_LISTEN": ":80"})
    assert settings.proxy_check is None
    assert settings.proxy_address == ("127.0.0.1", 80)


def test_max_body() -> None:
    assert Settings.from_env({}).max_body == 25 * 1024 * 1024
    assert Settings.from_env({"PUSHDOCK_MAX_BODY": "1m"}).max_body == 1024 * 1024
    assert Settings.from_env({"PUSHDOCK_MAX_BODY": "4096"}).max_body == 4096
    for bad in ("lots", "0", "-1m"):
        with pytest.raises(ConfigError, match="PUSHDOCK_MAX_BODY"):
            Settings.from_env({"PUSHDOCK_MAX_BODY": bad})


def test_caddy_reaches_the_resolver_where_it_listens_unless_told_otherwise() -> None:
    assert Settings.from_env({}).resolver == "udp/127.0.0.1:5380"
    settings = Settings.from_env({"PUSHDOCK_RESOLVER_LISTEN": "0.0.0.0:5353"})
    assert (settings.resolver_listen, settings.resolver) == ("0.0.0.0:5353",
                                                             "udp/127.0.0.1:5353")
    assert Settings.from_env({"PUSHDOCK_RESOLVER": "resolver:5353"}).resolver == \
        "udp/resolver:5353"
    assert Settings.from_env({"PUSHDOCK_RESOLVER": "off"}).resolver is None


@pytest.mark.parametrize(("name", "value"), [("PUSHDOCK_RESOLVER_LISTEN", "5353"),
                                             ("PUSHDOCK_RESOLVER", "udp/resolver")])
def test_a_resolver_address_without_a_port_is_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_only_a_resolver_listening_here_is_started_by_up() -> None:
    assert Settings.from_env({}).resolver_is_local
    assert Settings.from_env({"PUSHDOCK_RESOLVER_LISTEN": "0.0.0.0:53"}).resolver_is_local
    assert not Settings.from_env({"PUSHDOCK_RESOLVER": "dns.internal:53"}).resolver_is_local
    assert not Settings.from_env({"PUSHDOCK_RESOLVER": "off"}).resolver_is_local
    assert Settings.from_env({"PUSHDOCK_RESOLVER_LISTEN": "[::1]:5380"}).resolver == \
        "udp/[::1]:5380"


def test_ceilings_of_what_repositories_ask() -> None:
    ceilings = Settings.from_env({"PUSHDOCK_MAX_CPUS": "1.5", "PUSHDOCK_MAX_MEMORY": "2g",
                                  "PUSHDOCK_MAX_PIDS": "512"}).ceilings
    assert (ceilings.cpus, ceilings.memory, ceilings.pids) == (1.5, 2 * 1024**3, 512)
    defaults = Settings.from_env({}).ceilings
    assert defaults.memory == 4 * 1024**3 and defaults.pids == 4096 and defaults.cpus >= 1
    for name, bad in (("MAX_CPUS", "lots"), ("MAX_PIDS", "1.5"), ("MAX_MEMORY", "0")):
        with pytest.raises(ConfigError, match=f"PUSHDOCK_{name}"):
            Settings.from_env({f"PUSHDOCK_{name}": bad})
