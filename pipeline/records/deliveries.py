"""Webhook delivery ids: a delivery the forge repeats runs nothing a second time."""

from __future__ import annotations

import redis

from pipeline.records.connection import reachable
from pipeline.records.keys import key
from pipeline.records.runs import RUN_SEQUENCE

DELIVERY_TTL = 4 * 24 * 3600  # forges redeliver for up to 3 days

# Claims a delivery id and numbers its run atomically: a repeated delivery takes no number.
_CLAIM_RUN_ID = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""


def delivery_key(project: str, delivery_id: str) -> str:
    return key("delivery", project, delivery_id)


class Deliveries:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def claim(self, project: str, delivery_id: str) -> str | None:
        """A new run id the first time a delivery id is seen (for DELIVERY_TTL), in one
        round trip (a webhook does both for every push); None for one already seen."""
        with reachable():
            number = self.redis.eval(_CLAIM_RUN_ID, 2, delivery_key(project, delivery_id),
                                     RUN_SEQUENCE, DELIVERY_TTL)
        return str(number) if number else None

    def release(self, project: str, delivery_id: str) -> None:
        """Forget a claim whose run could not be recorded, so a redelivery runs it."""
        with reachable():
            self.redis.delete(delivery_key(project, delivery_id))

    def first_time(self, project: str, name: str) -> bool:
        """Whether `name` is seen for the first time within DELIVERY_TTL, taking no run id:
        a pull request's head commit (edited without new commits, it runs its head once),
        a delivery that runs nothing (a closed pull request's)."""
        with reachable():
            return bool(self.redis.set(delivery_key(project, name), "1", nx=True,
                                       ex=DELIVERY_TTL))
