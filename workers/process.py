"""The worker process: takes runs off the queue, one at a time, each in a forked work horse."""

from __future__ import annotations

import os
import socket

from rq import Worker

from workers.queue import job_connection, run_queue


def work(redis_url: str, *, burst: bool = False) -> bool:
    connection = job_connection(redis_url)
    worker = Worker([run_queue(connection)], connection=connection,
                    name=f"pushdock-{socket.gethostname()}-{os.getpid()}")
    return worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
