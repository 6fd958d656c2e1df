"""The last time each schedule fired: claimed once per slot, whoever asks."""

from __future__ import annotations

import redis

from pipeline.records.connection import reachable
from pipeline.records.keys import project_key

# A slot is claimed only when it is later than the last one: of two processes firing the
# same slot, one wins; a slot that came back late (after a restart) is not claimed twice.
_CLAIM = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


def mark_key(project: str, schedule: str) -> str:
    return project_key(project, "schedule", schedule, "last")


class ScheduleMarks:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._claim = client.register_script(_CLAIM)

    def claim(self, project: str, schedule: str, slot: int) -> bool:
        """True for the one caller that fires this slot."""
        with reachable():
            return bool(self._claim(keys=[mark_key(project, schedule)], args=[slot]))

    def last(self, project: str, schedule: str) -> int | None:
        with reachable():
            value = self.redis.get(mark_key(project, schedule))
        return int(value) if value else None
