"""How often the engine lets one bridge network reach another while networks are made.

Two networks of the bench's own: a server (busybox httpd) on one, a probe on the other
opening a connection to the server's address every 50 ms. A thread creates and removes
networks of the bench's own the whole time, as other projects' deploys and runs do on a
busy engine. Prints how many of the probe's connections got the server's answer (an
engine that keeps networks apart throughout gives 0) and, when `iptables` can be read,
how many samples of the FORWARD chain lacked the jump to DOCKER-ISOLATION-STAGE-1.

    .venv/bin/python bench/isolation_gap.py [--seconds 20]

Needs the Docker engine (script/bootstrap); root for the iptables samples.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.engine_isolation import isolation_gap  # noqa: E402

TAG = f"pushdock-bench/busybox:{os.getpid()}"
PREFIX = f"pushdock-bench-{os.getpid()}"
JUMP = "-A FORWARD -j DOCKER-ISOLATION-STAGE-1"


def build_base(client: docker.DockerClient) -> None:
    context = Path(tempfile.mkdtemp(prefix="pushdock-bench-"))
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\n'
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        'RUN ["/bin/sh", "-c", "mkdir -p /tmp /www && echo SERVER > /www/index.html"]\n')
    client.images.build(path=str(context), tag=TAG, rm=True)
    shutil.rmtree(context)


def churn(client: docker.DockerClient, stop: threading.Event, made: list[int]) -> None:
    while not stop.is_set():
        network = client.networks.create(f"{PREFIX}-churn-{len(made)}", driver="bridge")
        network.remove()
        made.append(1)


def sample_forward(stop: threading.Event, counts: list[int]) -> None:
    """counts: [samples, samples without the isolation jump]."""
    while not stop.is_set():
        chain = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True)
        if chain.returncode != 0:
            return
        counts[0] += 1
        counts[1] += JUMP not in chain.stdout


def probe_loop(probe, address: str, seconds: int) -> str:
    attempts = seconds * 20
    script = (f"i=0; while [ $i -lt {attempts} ]; do i=$((i+1)); "
              f"(timeout 1 wget -q -O - http://{address}:8000/ >> /tmp/hits 2>/dev/null &); "
              f"usleep 50000; done; sleep 2; echo $i $(grep -c SERVER /tmp/hits)")
    return probe.exec_run(["sh", "-c", script]).output.decode().split()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    client = docker.from_env(timeout=120)
    gap = isolation_gap(client.info())
    print(f"engine {client.version()['Version']}: "
          f"{gap.describe() if gap else 'keeps networks apart throughout'}")
    build_base(client)
    networks = [client.networks.create(f"{PREFIX}-{side}", driver="bridge")
                for side in ("server", "probe")]
    containers = []
    try:
        server = client.containers.run(TAG, ["httpd", "-f", "-p", "8000", "-h", "/www"],
                                       detach=True, network=networks[0].name)
        probe = client.containers.run(TAG, ["sleep", "3600"], detach=True,
                                      network=networks[1].name)
        containers = [server, probe]
        server.reload()
        address = server.attrs["NetworkSettings"]["Networks"][networks[0].name]["IPAddress"]
        for label, churning in (("quiet", False), ("while networks are made", True)):
            stop, made, counts = threading.Event(), [], [0, 0]
            threads = [threading.Thread(target=sample_forward, args=(stop, counts))]
            if churning:
                threads.append(threading.Thread(target=churn, args=(client, stop, made)))
            for thread in threads:
                thread.start()
            attempts, reached = probe_loop(probe, address, args.seconds)
            stop.set()
            for thread in threads:
                thread.join()
            print(f"{label}: {reached} of {attempts} connections across networks answered; "
                  f"{len(made)} networks made; FORWARD without the isolation jump in "
                  f"{counts[1]} of {counts[0]} samples")
    finally:
        for container in containers:
            container.remove(force=True)
        for network in networks:
            network.remove()
        client.images.remove(TAG, force=True)


if __name__ == "__main__":
    main()
