"""The Lua that changes a run in one step inside Redis: no read and write apart, so nothing
runs between them, and a stage change is one round trip."""

from __future__ import annotations

from pipeline.model import RunStatus

# A run written when its stages were one JSON field (`stages`) is moved to fields of their
# own on its first write, so old and new writes never mix. KEYS[1]: the run.
_UPGRADE = """
local function upgrade(key)
  local legacy = redis.call('HGET', key, 'stages')
  if not legacy then return end
  local order = {}
  if string.sub(legacy, 1, 1) == '[' then
    for _, stage in ipairs(cjson.decode(legacy)) do
      order[#order + 1] = stage.name
      local prefix = 'stage:' .. stage.name .. ':'
      redis.call('HSETNX', key, prefix .. 'status', stage.status)
      for _, part in ipairs({'started', 'finished'}) do
        if type(stage[part]) == 'number' then
          redis.call('HSETNX', key, prefix .. part, string.format('%.17g', stage[part]))
        end
      end
    end
  end
  redis.call('HSETNX', key, 'stage_order', table.concat(order, ','))
  redis.call('HDEL', key, 'stages')
end
"""

UPGRADE = _UPGRADE + "upgrade(KEYS[1])\nreturn 1\n"

# A queued run starts; anything else (cancelled meanwhile, or no such run) does not.
# ARGV: the time. Returns 1 when it started.
START = _UPGRADE + f"""
upgrade(KEYS[1])
if redis.call('HGET', KEYS[1], 'status') ~= '{RunStatus.QUEUED}' then return 0 end
redis.call('HSET', KEYS[1], 'status', '{RunStatus.RUNNING}')
-- a run that waited for approval keeps the time it first started
local started = redis.call('HGET', KEYS[1], 'started')
if not started or started == '' then redis.call('HSET', KEYS[1], 'started', ARGV[1]) end
return 1
"""

# A person's decision on a waiting run, taken once: of an approve and a reject sent together,
# only the first changes it. ARGV: the status it goes to, the decision, who, when, the reason.
# Returns 1 when this call decided it.
DECIDE = f"""
if redis.call('HGET', KEYS[1], 'status') ~= '{RunStatus.WAITING}' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'decision', ARGV[2], 'decided_by', ARGV[3],
           'decided_at', ARGV[4], 'reason', ARGV[5])
return 1
"""

# One stage's fields. ARGV: the stage, its status, the time, and what the change is:
# `start` (started now, not finished), `end` (finished now; started then if it never did),
# or `mark` (the status alone). A stage the run was not created with goes after the others.
# Returns 0 for no such run.
SET_STAGE = _UPGRADE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
upgrade(KEYS[1])
local prefix = 'stage:' .. ARGV[1] .. ':'
redis.call('HSET', KEYS[1], prefix .. 'status', ARGV[2])
if ARGV[4] == 'start' then
  redis.call('HSET', KEYS[1], prefix .. 'started', ARGV[3])
  redis.call('HDEL', KEYS[1], prefix .. 'finished')
elseif ARGV[4] == 'end' then
  redis.call('HSET', KEYS[1], prefix .. 'finished', ARGV[3])
  redis.call('HSETNX', KEYS[1], prefix .. 'started', ARGV[3])
end
local order = redis.call('HGET', KEYS[1], 'stage_order') or ''
for name in string.gmatch(order, '[^,]+') do
  if name == ARGV[1] then return 1 end
end
redis.call('HSET', KEYS[1], 'stage_order', order == '' and ARGV[1] or order .. ',' .. ARGV[1])
return 1
"""

# Older queued or running runs of one branch give way to run ARGV[1] (see RunRecords.create).
# In Redis, so that it can go in the transaction that records the newer run: a webhook
# then takes no extra round trips for it, and nothing runs between the read and the writes.
# KEYS: the branch's active-run index, the active-run set. ARGV: the newer id, the run key
# prefix, the stop request, its TTL, the reason, the finish time.
SUPERSEDE = f"""
local newer = tonumber(ARGV[1])
local affected = {{}}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if tonumber(id) < newer then
    local run = ARGV[2] .. id
    local status = redis.call('HGET', run, 'status')
    if status == '{RunStatus.QUEUED}' or status == '{RunStatus.RUNNING}' then
      redis.call('SET', run .. ':stop', ARGV[3], 'NX', 'EX', ARGV[4])
      affected[#affected + 1] = id
    end
    -- a running one stays in the index: its worker finishes it, within seconds
    if status ~= '{RunStatus.RUNNING}' then
      if status == '{RunStatus.QUEUED}' then
        redis.call('HSET', run, 'status', '{RunStatus.SUPERSEDED}', 'reason', ARGV[5],
                   'finished', ARGV[6])
        redis.call('SREM', KEYS[2], id)
      end
      redis.call('SREM', KEYS[1], id)
    end
  end
end
return affected
"""
