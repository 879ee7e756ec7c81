-- Helpers shared by every script (this file is prepended to each of them).
--
-- Keys: ARGV[1] is the key prefix, which carries a hash tag ("{overdue}:"), so every
-- key of a deployment, the per-job ones built here included, lives in one cluster slot.
-- Times are unix milliseconds from the replica's clock (passed in ARGV), never Redis
-- TIME, so that every replica and the local backend count time the same way. Numbers
-- are written with %d: Lua's tostring would switch to exponents past 14 digits.
--
-- No script decides what happens to a job: the Rust side does (domain/job.rs), and
-- store.lua writes what it decided. The one exception is the quick path of ping.lua.

local P = ARGV[1]
local GROUP = 'overdue'
local OUTBOX = P .. 'outbox'
-- Every job is one field of this hash: its name, and as value the job packed as
-- codec.rs writes it. One hash rather than a key a job lets a call of many pings read
-- them all with one HMGET and write them with one HSET.
local JOBS = P .. 'jobs'

local function int(x)
  return string.format('%d', x)
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

-- The queue of job `name`'s entries for `channel`, in the order raised: `q:<name>` for
-- the log and entries of earlier versions (no channel), `qc:<channel>:<name>` for a
-- channel (its key ends in '#' and a hash, so the two parts never run together).
local function queue_of(name, channel)
  if channel == nil or channel == '' then return P .. 'q:' .. name end
  return P .. 'qc:' .. channel .. ':' .. name
end

-- Counts `n` entries of `channel` as no longer waiting.
local function uncount(channel, n)
  local key = channel or ''
  if redis.call('HINCRBY', P .. 'qn', key, -n) <= 0 then
    redis.call('HDEL', P .. 'qn', key)
  end
end

local function entry_of(id)
  return redis.call('XRANGE', OUTBOX, id, id)[1]
end

-- Drops every undelivered entry of job `name`, on every channel, in slices: unpack
-- has a stack limit.
local function drop_alerts(name)
  local keys = { '' }
  local channels = P .. 'qs:' .. name
  for _, channel in ipairs(redis.call('SMEMBERS', channels)) do
    keys[#keys + 1] = channel
  end
  redis.call('DEL', channels)
  for _, channel in ipairs(keys) do
    local q = queue_of(name, channel)
    local dropped = redis.call('LLEN', q)
    if dropped > 0 then uncount(channel, dropped) end
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
end
