"""`pushdock post-receive PROJECT URL`: a bare git server's post-receive hook.

git gives the hook one "<old-sha> <new-sha> <ref>" line per updated ref on stdin; each
branch or tag becomes one signed generic webhook (see webhooks/forges/generic.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

import requests

from pipeline.http_errors import error_detail, failure_reason
from webhooks.forges.generic import signed_push

SECRET_VARIABLE = "PUSHDOCK_WEBHOOK_SECRET"
_LINE = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64}) ([0-9a-f]{40}|[0-9a-f]{64}) (refs/\S+)$")
TIMEOUT = 10.0


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str


def read_updates(lines: Iterable[str]) -> list[RefUpdate]:
    """The branch and tag updates among git's lines; other refs (notes, …) are not pushes."""
    updates = []
    for line in lines:
        match = _LINE.match(line.strip())
        if match and match[3].startswith(("refs/heads/", "refs/tags/")):
            updates.append(RefUpdate(match[1], match[2], match[3]))
    return updates


def commit_info(sha: str) -> tuple[str, str]:
    """(message, author) of a commit of the repository the hook runs in."""
    if set(sha) == {"0"}:
        return "", ""
    result = subprocess.run(["git", "log", "-1", "--format=%an%x00%B", sha, "--"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return "", ""
    author, _, message = result.stdout.partition("\0")
    return message.strip(), author


def hook_url(base: str, project: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(f"/hooks/{project}") else f"{base}/hooks/{project}"


class _DeliveryFailed(Exception):
    """The web service refused a webhook, or could not be reached."""


def post_receive(project: str, url: str, secret: str, lines: Iterable[str], out: TextIO,
                 err: TextIO) -> int:
    target = hook_url(url, project)
    failed = 0
    # One session for the whole push: its branches and tags go over one kept-alive connection.
    with requests.Session() as session:
        for update in read_updates(lines):
            name = update.ref.removeprefix("refs/heads/")
            try:
                answer = _deliver(session, target, secret, update)
            except _DeliveryFailed as exc:
                print(f"pushdock: {name}: {exc}", file=err)
                failed += 1
                continue
            if "ignored" in answer:
                print(f"pushdock: {name}: ignored ({answer['ignored']})", file=out)
            else:
                print(f"pushdock: {name}: run {answer.get('run')} queued: {answer.get('url')}",
                      file=out)
    return 1 if failed else 0


def _deliver(session: requests.Session, target: str, secret: str,
             update: RefUpdate) -> dict[str, Any]:
    """POST one ref update's signed webhook; the web service's JSON answer."""
    message, author = commit_info(update.new)
    body, headers = signed_push(secret, ref=update.ref, before=update.old, after=update.new,
                                message=message, author=author, delivery=uuid.uuid4().hex)
    try:
        response = session.post(target, data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise _DeliveryFailed(f"cannot reach {target}: {failure_reason(exc)}") from None
    if not response.ok:
        raise _DeliveryFailed(f"{target} answered {response.status_code}: "
                              f"{error_detail(response)}")
    try:
        answer = json.loads(response.content or b"{}")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise _DeliveryFailed(f"{target} answered {response.status_code} without a JSON "
                              f"object: {error_detail(response, limit=200)}")
    return answer
