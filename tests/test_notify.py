"""Notifications: the events a run tells (on data), and real sends through Apprise — a
`json://` target against a recording HTTP server, a `mailto://` target against a real SMTP
server (aiosmtpd) — from runs a real worker runs, beside targets that refuse or hang."""

from __future__ import annotations

import email
import os
import socket
import threading
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from pipeline.config import NotifyTarget
from pipeline.model import NotifyEvent, PushEvent, Run, RunStatus, StageName, StageRecord
from pipeline.model import StageStatus as S
from pipeline.notifications import Notice, previous_verdict, run_events, run_notice, target_name
from pipeline.settings import Settings
from pipeline.store import Store
from tests.support import (
    RecordingServer,
    SampleRepo,
    free_port,
    log_lines,
    project_file,
    wait_for,
    worker_process,
)
from workers.queue import job_connection, run_queue, submit_run


def run_of(status: RunStatus, deploy: S | None = None, run_id: str = "5",
           branch: str = "main", created: float = 5.0) -> Run:
    stages = (StageRecord(StageName.TEST, S.SUCCESS),)
    if deploy is not None:
        stages += (StageRecord(StageName.DEPLOY, deploy),)
    return Run(id=run_id, project="shop", branch=branch, sha="3f2a9c1" + "0" * 33,
               message="Fix the cart\n\nlonger text", status=status, reason="why",
               created=created, stages=stages)


# -- on data --------------------------------------------------------------------------------
def test_the_events_of_a_run() -> None:
    failed = run_of(RunStatus.FAILED, run_id="4", created=4.0)
    assert run_events(run_of(RunStatus.SUCCESS), failed) == (NotifyEvent.FIXED,)
    assert run_events(run_of(RunStatus.SUCCESS), run_of(RunStatus.SUCCESS, run_id="4")) == ()
    assert run_events(run_of(RunStatus.SUCCESS), None) == ()
    assert run_events(run_of(RunStatus.SUCCESS, S.SUCCESS), failed) == (
        NotifyEvent.FIXED, NotifyEvent.DEPLOYED)
    assert run_events(run_of(RunStatus.FAILED), None) == (NotifyEvent.FAILED,)
    assert run_events(run_of(RunStatus.ERROR, S.FAILED), None) == (
        NotifyEvent.FAILED, NotifyEvent.DEPLOY_FAILED)
    assert run_events(run_of(RunStatus.WAITING), None) == (NotifyEvent.WAITING,)
    assert run_events(run_of(RunStatus.CANCELLED), failed) == ()


def test_the_previous_verdict_is_of_the_same_branch_and_not_a_cancel() -> None:
    run = run_of(RunStatus.SUCCESS, run_id="9", created=9.0)
    earlier = [run, run_of(RunStatus.FAILED, run_id="8", branch="dev", created=8.0),
               run_of(RunStatus.CANCELLED, run_id="7", created=7.0),
               run_of(RunStatus.ERROR, run_id="6", created=6.0),
               run_of(RunStatus.SUCCESS, run_id="5", created=5.0)]
    found = previous_verdict(run, earlier)
    assert found is not None and found.id == "6"


def test_a_notice_names_everything_and_its_target_never_shows_its_url() -> None:
    notice = run_notice(run_of(RunStatus.FAILED), NotifyEvent.FAILED, "https://ci.test")
    assert notice.title == "shop: main 3f2a9c1 failed"
    assert notice.body.splitlines() == [
        "event: failed", "project: shop", "branch: main", "commit: 3f2a9c1",
        "message: Fix the cart", "status: failed", "reason: why",
        "run: https://ci.test/runs/5"]
    assert Notice.from_job(notice.to_job()) == notice
    backup = Notice(NotifyEvent.BACKUP_FAILED, "shop", subject="accessory db",
                    reason="pg_dumpall exited 1")
    assert backup.title == "shop: accessory db backup failed"
    target = NotifyTarget(url="slack://T000/B000/SECRETXX", on=("failed",))
    assert target_name(2, target) == "notify[2] (slack)"


def test_a_bad_notify_url_or_event_is_a_config_error(tmp_path: Path) -> None:
    from pipeline.errors import ConfigError
    from pipeline.projects import parse_project

    head = "project: shop\nrepo: /srv/shop.git\nwebhook_secret: s\nnotify:\n"
    with pytest.raises(ConfigError) as bad_url:
        parse_project(head + "  - url: nope://secret-token@x\n", tmp_path / "shop.yml")
    assert str(bad_url.value) == (f"{tmp_path}/shop.yml:5: notify[0].url: \"nope://…\" is "
                                  "not a notification URL Apprise knows")
    assert "secret-token" not in str(bad_url.value)
    with pytest.raises(ConfigError) as bad_event:
        parse_project(head + "  - url: json://h/x\n    on: [failed, exploded]\n",
                      tmp_path / "shop.yml")
    assert str(bad_event.value).startswith(f"{tmp_path}/shop.yml:6: notify[0].on: "
                                           '"exploded" is not one of failed, fixed,')


# -- for real -------------------------------------------------------------------------------
class Mailbox:
    """A real SMTP server on loopback (aiosmtpd), keeping what it is sent."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                mailbox.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)


class Hanging:
    """A TCP server that takes connections and never answers."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.socket.close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    server = Hanging()
    yield server
    server.close()


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[None]:
    env = {**os.environ, "PUSHDOCK_REDIS_URL": settings.redis_url or "",
           "PUSHDOCK_CONFIG_DIR": str(settings.config_dir),
           "PUSHDOCK_DATA_DIR": str(settings.data_dir), "NOTIFY_SECRET": "s",
           "PUSHDOCK_PUBLIC_URL": "https://ci.test",
           "PUSHDOCK_RESOLVER_LISTEN": settings.resolver_listen}
    with worker_process(env, tmp_path / "worker.log"):
        yield


def fields(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.strip().splitlines())


def test_runs_tell_json_and_email_targets_and_a_bad_target_costs_nothing(
        worker: None, settings: Settings, store: Store, sample_repo: SampleRepo,
        project_name: str, base_image: str, redis_url: str, mailbox: Mailbox,
        hanging: Hanging, tmp_path: Path) -> None:
    refused = free_port()  # nothing listens there
    extra = ("notify:\n"
             "  - url: json://127.0.0.1:{json}/hooks/pushdock?+X-Token=${NOTIFY_SECRET}\n"
             "    on: [failed, fixed]\n"
             f"  - url: mailto://127.0.0.1:{mailbox.port}?mode=insecure"
             "&from=pushdock@example.com&to=ops@example.com\n"
             "    on: [failed, fixed]\n"
             f"  - url: json://127.0.0.1:{refused}/x\n"
             "    on: [failed]\n"
             f"  - url: json://127.0.0.1:{hanging.port}/x\n"
             "    on: [failed]\n")
    with RecordingServer(status=200) as hook:
        project_file(settings.config_dir, project_name, sample_repo.path,
                     secret_var="NOTIFY_SECRET",
                     extra=extra.replace("{json}", hook.url.rsplit(":", 1)[1]))
        queue = run_queue(job_connection(redis_url))
        broken = sample_repo.commit("broken", "Break the page")
        first = submit_run(store, queue, PushEvent(project=project_name, branch="main",
                                                   sha=broken, message="Break the page"))
        done = wait_for(lambda: (r := store.runs.get(first.id)) and r.status.finished and r,
                        timeout=180, what="the failing run")
        assert done.status is RunStatus.FAILED
        wait_for(lambda: len(hook.requests) == 1 and len(mailbox.messages) == 1, timeout=60,
                 what="the failed notice at the JSON and SMTP targets")

        fixed = sample_repo.commit("v2", "Mend the page")
        second = submit_run(store, queue, PushEvent(project=project_name, branch="main",
                                                    sha=fixed, message="Mend the page"))
        passed = wait_for(lambda: (r := store.runs.get(second.id)) and r.status.finished and r,
                          timeout=180, what="the passing run")
        assert passed.status is RunStatus.SUCCESS, passed.reason
        wait_for(lambda: len(hook.requests) == 2 and len(mailbox.messages) == 2, timeout=60,
                 what="the fixed notice at the JSON and SMTP targets")

    # the generic JSON body, as the README documents it
    first_hook, second_hook = hook.requests
    assert first_hook["path"] == "/hooks/pushdock"
    assert first_hook["headers"]["x-token"] == "s"  # a ${VAR} secret, as a header
    body = first_hook["body"]
    assert set(body) == {"version", "title", "message", "attachments", "type"}
    assert body["title"] == f"{project_name}: main {broken[:7]} failed"
    assert body["type"] == "failure"
    assert fields(body["message"]) == {
        "event": "failed", "project": project_name, "branch": "main", "commit": broken[:7],
        "message": "Break the page", "status": "failed",
        "reason": "step unit failed with exit code 1", "run": f"https://ci.test/runs/{first.id}"}
    assert fields(second_hook["body"]["message"])["event"] == "fixed"
    assert second_hook["body"]["type"] == "success"

    failed_mail, fixed_mail = mailbox.messages
    assert failed_mail["To"] == "ops@example.com"
    assert failed_mail["Subject"] == f"{project_name}: main {broken[:7]} failed"
    assert fixed_mail["Subject"] == f"{project_name}: main {fixed[:7]} fixed"
    plain = next(part for part in fixed_mail.walk() if part.get_content_type() == "text/plain")
    text = plain.get_payload(decode=True).decode()
    assert fields(text)["run"] == f"https://ci.test/runs/{second.id}"

    # the targets that refuse or hang: noted in the run's log, by place and scheme only
    def noted() -> list[str]:
        return [line for line in log_lines(store, first.id) if line.startswith("notification")]

    wait_for(lambda: any("notify[2] (json) failed" in line for line in noted())
             and any("notify[3] (json) failed" in line for line in noted()),
             timeout=90, what="the refused and the hanging targets noted in the log")
    assert hanging.accepted  # it was asked, and never answered
    assert "notification failed sent to notify[0] (json)" in noted()
    assert not any(str(refused) in line or "token" in line for line in noted())
    assert store.runs.get(first.id).status is RunStatus.FAILED  # type: ignore[union-attr]
    worker_log = (tmp_path / "worker.log").read_text()
    assert "notify[3] (json)" in worker_log  # the jobs are in it, by their targets' places
    assert "hooks/pushdock" not in worker_log and "X-Token" not in worker_log
    assert f"127.0.0.1:{mailbox.port}" not in worker_log
