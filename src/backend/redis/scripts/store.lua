-- Stores what the Rust side decided for some jobs (a ping's effect, a sweep's alerts and
-- re-arms), change by change, each only if the job's packed value is still the one the
-- decision was made on: a compare-and-set on the whole value. A value that did not
-- change means a state that did not change, so the decision still holds; when it did
-- change, the change is not applied and the Rust side reads the job again and decides
-- again. Once a change of a job is not applied, its later changes in the call are not
-- either, so that a job's changes are applied in order or not at all.
-- ARGV: prefix, max services, events kept per job (--history), then each change as
--   name, expected value ('' = no such job), new value ('' = unchanged),
--   wake-up ('' = unchanged, 'x' = none, '<MS' = MS unless one at or before it is
--   scheduled, '=MS' = MS), status sets ('' = unchanged, 'u' = in neither, 'd' = in
--   down, 'p' = in paused),
--   '1' when the change creates the job (refused at max services, else ''),
--   the number of outbox entries of the alert it raises ('' when none), the number of
--   events it records, then the alert's sixteen fields i v f s g l x o c r w e u m k z
--   (codec::alert_fields) and one channel key an entry ('' for PING_ALERT_URI's or the
--   log) if it raises one, then the events' JSON lines, oldest first.
-- A job's events are the list ev:<name>, newest first, trimmed to the history: they
-- are written here with the change that records them, so both are stored or neither.
-- Returns one code a change: 0 not applied (the job changed), 1 applied, 2 applied and
-- the job's wake-up is now the first of all, 3 refused: max services reached.
local max = tonumber(ARGV[2])
local history = tonumber(ARGV[3])
local wake = P .. 'wake'
local ALERT_FIELDS = { 'i', 'v', 'f', 's', 'g', 'l', 'x', 'o', 'c', 'r', 'w', 'e', 'u', 'm', 'k', 'z' }

-- Appends the entry of an alert of job `name` for `channel` to the outbox stream and to
-- the job's queue for that channel; its fields start at ARGV[at].
local function raise(name, at, channel)
  local fields = {}
  for k, f in ipairs(ALERT_FIELDS) do
    local value = ARGV[at + k - 1]
    -- An empty optional field (exit code, duration, log, schedule, zone) is left out.
    if value ~= '' or k <= 10 then
      fields[#fields + 1] = f
      fields[#fields + 1] = value
    end
    if f == 'v' then
      fields[#fields + 1] = 'n'
      fields[#fields + 1] = name
    end
  end
  if channel ~= '' then
    fields[#fields + 1] = 'h'
    fields[#fields + 1] = channel
    redis.call('SADD', P .. 'qs:' .. name, channel)
  end
  redis.call('HINCRBY', P .. 'qn', channel, 1)
  fields[#fields + 1] = 'q'
  fields[#fields + 1] = int(redis.call('HINCRBY', P .. 'meta', 'seq', 1))
  local id = redis.call('XADD', OUTBOX, '*', unpack(fields))
  redis.call('RPUSH', queue_of(name, channel), id)
end

local failed = {}
local replies = {}
local i = 4
while i <= #ARGV do
  local name, expected, new, at, status, creates, alert, nevents =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6],
    tonumber(ARGV[i + 7])
  local entries = tonumber(alert) or 0
  local first_event = i + 8
  if entries > 0 then first_event = first_event + #ALERT_FIELDS + entries end
  local reply = 0
  if not failed[name] and (redis.call('HGET', JOBS, name) or '') == expected then
    if creates == '1' and redis.call('ZCARD', P .. 'names') >= max then
      reply = 3
    else
      reply = 1
      if new ~= '' then redis.call('HSET', JOBS, name, new) end
      if creates == '1' then redis.call('ZADD', P .. 'names', 0, name) end
      if status ~= '' then
        if status == 'd' then
          redis.call('ZADD', P .. 'down', 0, name)
        else
          redis.call('ZREM', P .. 'down', name)
        end
        if status == 'p' then
          redis.call('ZADD', P .. 'paused', 0, name)
        else
          redis.call('ZREM', P .. 'paused', name)
        end
      end
      if at == 'x' then
        redis.call('ZREM', wake, name)
      elseif at ~= '' then
        local ms = string.sub(at, 2)
        if string.sub(at, 1, 1) == '<' then
          if redis.call('ZADD', wake, 'LT', 'CH', ms, name) == 1
            and redis.call('ZRANGE', wake, 0, 0)[1] == name then
            reply = 2
          end
        else
          redis.call('ZADD', wake, ms, name)
        end
      end
      for e = 1, entries do
        raise(name, i + 8, ARGV[i + 7 + #ALERT_FIELDS + e])
      end
      if nevents > 0 and history > 0 then
        local ev = P .. 'ev:' .. name
        redis.call('LPUSH', ev, unpack(ARGV, first_event, first_event + nevents - 1))
        redis.call('LTRIM', ev, 0, history - 1)
      end
    end
  end
  if reply == 0 or reply == 3 then failed[name] = true end
  replies[#replies + 1] = reply
  i = first_event + nevents
end
return replies
