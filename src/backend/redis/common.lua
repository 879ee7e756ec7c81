-- Helpers shared by every script (this file is prepended to each of them).
--
-- Keys: ARGV[1] is the key prefix, which carries a hash tag ("{overdue}:"), so every
-- key of a deployment, the per-job ones built here included, lives in one cluster slot.
-- Times are unix milliseconds from the replica's clock (passed in ARGV), never Redis
-- TIME, so that every replica and the local backend count time the same way. Numbers
-- are written with %d: Lua's tostring would switch to exponents past 14 digits.

local P = ARGV[1]
local MAX_MS = 253402300799999
local GROUP = 'overdue'
local OUTBOX = P .. 'outbox'

local function int(x)
  return string.format('%d', x)
end

local function opt(x)
  if x then return int(x) end
  return ''
end

local function secs(ms)
  return math.floor(ms / 1000)
end

-- `ms` plus `s` seconds, saturating like UnixTime::plus.
local function plus(ms, s)
  local r = ms + s * 1000
  if r > MAX_MS then r = MAX_MS end
  return r
end

-- Whole seconds from `earlier` to `now`, 0 when `earlier` is later (UnixTime::since).
local function since(now, earlier)
  local d = now - earlier
  if d < 0 then return 0 end
  return math.floor(d / 1000)
end

-- Every job is one field of this hash: its name, and as value the job packed as
-- `l|p|k|d|r|e|a|s|g|f`: l last ping (unix ms), p pings, k '1' when the last ping's
-- deadline had already passed as it was recorded (no startup grace for it), d down
-- since and r next reminder (both only while down, else empty), e alerts of the
-- episode, a alerts sent, s frequency seconds, g grace seconds, f the frequency as sent
-- (last: it is free text). One hash rather than a key a job lets a call of many pings
-- read them all with one HMGET and write them with one HSET.
local JOBS = P .. 'jobs'

local function pack(j)
  local k = ''
  if j.k then k = '1' end
  return int(j.l) .. '|' .. int(j.p) .. '|' .. k .. '|' .. opt(j.d) .. '|' .. opt(j.r) .. '|'
    .. int(j.e) .. '|' .. int(j.a) .. '|' .. int(j.s) .. '|' .. int(j.g) .. '|' .. j.f
end

-- The job from its packed value; nil for a missing job and false for a value that does
-- not parse.
local function unpack_job(v)
  if not v then return nil end
  local l, p, k, d, r, e, a, s, g, f = string.match(v,
    '^(%d+)|(%d+)|(1?)|(%d*)|(%d*)|(%d+)|(%d+)|(%d+)|(%d+)|(.+)$')
  if not l then return false end
  local j = {
    f = f, s = tonumber(s), g = tonumber(g), l = tonumber(l), e = tonumber(e),
    a = tonumber(a), p = tonumber(p), k = k == '1',
  }
  if d ~= '' then j.d = tonumber(d) end
  if r ~= '' then j.r = tonumber(r) end
  return j
end

local function load(name)
  return unpack_job(redis.call('HGET', JOBS, name))
end

local function save(name, j)
  redis.call('HSET', JOBS, name, pack(j))
end

-- The job as the Rust side reads it: f s g l d e a p r, '' for an absent time. Numbers
-- go back as integer replies (exact below 2^53), which costs no formatting.
local function dump(j)
  return { j.f, j.s, j.g, j.l, j.d or '', j.e, j.a, j.p, j.r or '' }
end

local function deadline(j)
  return plus(plus(j.l, j.s), j.g)
end

-- Appends an alert for job `name` to the outbox stream and to the job's queue, in the
-- same step as the change that raised it. `event` is 'd' (down) or 'u' (up).
-- Returns the entry as XRANGE would: { id, { field, value, ... } }.
local function raise(j, name, event, now, alert_id)
  local expected = deadline(j)
  local overdue
  if event == 'd' then
    overdue = since(now, expected)
  else
    overdue = since(now, j.d or expected)
  end
  local seq = redis.call('HINCRBY', P .. 'meta', 'seq', 1)
  local fields = {
    'i', alert_id, 'v', event, 'n', name, 'f', j.f, 's', int(j.s), 'g', int(j.g),
    'l', int(j.l), 'x', int(expected), 'o', int(overdue), 'c', int(j.e), 'r', int(now),
    'q', int(seq),
  }
  local id = redis.call('XADD', OUTBOX, '*', unpack(fields))
  redis.call('RPUSH', P .. 'q:' .. name, id)
  return { id, fields }
end

-- Marks the deployment alive for `gap` ms of Redis's own clock (a key that expires, so
-- replicas' clocks and a frozen or restarted Redis all count the same way). When the key
-- had expired, no replica touched the store for longer than `gap`: overdue was not
-- running, and jobs that fell due meanwhile get the startup grace from `now` on
-- (SPEC section 8). The key is refreshed about once a second, not on every call.
local function heartbeat(now, gap)
  local alive = P .. 'alive'
  local ttl = redis.call('PTTL', alive)
  if ttl < 0 then
    redis.call('HSET', P .. 'meta', 'resumed', int(now))
  end
  if ttl < gap - 1000 then
    redis.call('SET', alive, '1', 'PX', gap)
  end
end

-- A field of a stream entry { id, { field, value, ... } }.
local function field(entry, name)
  local f = entry[2]
  for i = 1, #f, 2 do
    if f[i] == name then return f[i + 1] end
  end
  return nil
end

local function entry_of(id)
  return redis.call('XRANGE', OUTBOX, id, id)[1]
end

-- Drops every undelivered alert of job `name`, in slices: unpack has a stack limit.
local function drop_alerts(name)
  local q = P .. 'q:' .. name
  while true do
    local ids = redis.call('LRANGE', q, 0, 499)
    if #ids == 0 then break end
    -- The group may not exist yet (nothing was ever leased); the entries go anyway.
    redis.pcall('XACK', OUTBOX, GROUP, unpack(ids))
    redis.call('XDEL', OUTBOX, unpack(ids))
    redis.call('ZREM', P .. 'ready', unpack(ids))
    redis.call('HDEL', P .. 'att', unpack(ids))
    redis.call('LTRIM', q, #ids, -1)
  end
end
