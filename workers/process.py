"""The worker process: takes runs off the queue, one at a time, each in a forked work horse."""

from __future__ import annotations

import os
import socket
from dataclasses import replace

from rq import Worker

from pipeline.settings import Settings
from workers.queue import job_connection, run_queue
from workers.recover import recover


def work(redis_url: str, *, burst: bool = False) -> bool:
    # Before taking jobs: routes a restarted Caddy lost come back, and deploys a killed
    # worker left half-done end with exactly one colour serving.
    recover(replace(Settings.from_env(), redis_url=redis_url),
            say=lambda line: print(f"pushdock worker: {line}", flush=True))
    connection = job_connection(redis_url)
    worker = Worker([run_queue(connection)], connection=connection,
                    name=f"pushdock-{socket.gethostname()}-{os.getpid()}")
    return worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
