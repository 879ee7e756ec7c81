-- Records a batch of pings (SPEC section 3), each in its own step, in order; the
-- whole call is atomic.
-- ARGV: prefix, liveness gap ms ('' when this replica marked itself alive less than
-- half a second ago), the time of that mark, max services, alert id prefix (22
-- characters of a fresh ULID; an `up` alert's id is it plus the ping's position), then
-- seven values a ping: name, frequency text ('' = keep), frequency seconds, grace
-- seconds ('' = keep), timestamp ms ('' = arrival), now ms, '1' when the caller wants
-- the job back ('' otherwise).
-- Returns one reply a ping: earliest (an integer, 1 when the job's wake-up is now the
-- first of all) for a plain ping of an up job, recorded as it was; otherwise { outcome,
-- job, earliest } where outcome is recorded | recovered | stale and job is dump(); or
-- { frequency } | { full } | { corrupt }.
--
-- The usual ping (a known job, up, its deadline moving later) rewrites the job's value
-- and leaves the wake-up alone: the old one fires early, and the sweep finds the job not
-- due and re-arms it at the real deadline.
local wake = P .. 'wake'
local max = tonumber(ARGV[4])

-- A replica that records pings is running: it counts for liveness like a sweep.
if ARGV[2] ~= '' then heartbeat(tonumber(ARGV[3]), tonumber(ARGV[2])) end

-- LT: only an earlier wake-up replaces the scheduled one (or a missing one is added).
-- Returns 1 when the job's wake-up changed and is now the first of all, else 0.
local function schedule(name, at_ms)
  if redis.call('ZADD', wake, 'LT', 'CH', int(at_ms), name) == 1 then
    if redis.call('ZRANGE', wake, 0, 0)[1] == name then return 1 end
  end
  return 0
end

-- The usual ping, cut to what it needs: an up job, its frequency and grace unchanged,
-- nobody waiting for the job. `v` is the job's packed value. Builds no table and
-- returns the earliest flag and the new packed value, or nil when the ping is anything
-- else (new, down, changed, stale, unreadable): the full path then takes it from the
-- start.
-- Takes the arguments as sent: numbers written by overdue are canonical integer text,
-- so equal values compare equal as strings, and one the ping keeps is written back as
-- it came, without a conversion either way.
local function quick(v, name, ftext, fsecs, grace, at_text, now_text)
  if not v then return nil end
  -- Up only: d and r empty. `rest` is everything after k, written back as it is.
  local l_text, p, rest, s_text, g_text, f = string.match(v,
    '^(%d+)|(%d+)|1?|(||%d+|%d+|(%d+)|(%d+)|(.+))$')
  if not l_text then return nil end
  if ftext ~= '' and (ftext ~= f or fsecs ~= s_text) then return nil end
  if grace ~= '' and grace ~= g_text then return nil end
  local l, now = tonumber(l_text), tonumber(now_text)
  -- Frequency plus grace, in ms: a deadline is a time plus it, saturating (plus()).
  local span = (tonumber(s_text) + tonumber(g_text)) * 1000
  local at
  if at_text ~= '' then
    at = tonumber(at_text)
    local as, ls = secs(at), secs(l)
    if as < ls then return nil end
    -- A retry of a ping already recorded counts once.
    if as == ls then return 0, v end
  elseif now >= l then
    at, at_text = now, now_text
  else
    at, at_text = l, l_text
  end
  local old_deadline, new_deadline = l + span, at + span
  if old_deadline > MAX_MS then old_deadline = MAX_MS end
  if new_deadline > MAX_MS then new_deadline = MAX_MS end
  local k = ''
  if new_deadline <= now then k = '1' end
  local packed = at_text .. '|' .. int(tonumber(p) + 1) .. '|' .. k .. '|' .. rest
  if old_deadline > now and new_deadline >= old_deadline then return 0, packed end
  return schedule(name, new_deadline), packed
end

local function ping(name, ftext, fsecs, grace, at, now, position)
  fsecs, grace, at, now = tonumber(fsecs), tonumber(grace), tonumber(at), tonumber(now)
  local j = load(name)
  if j == false then return { 'corrupt' } end
  local outcome = 'recorded'
  -- Whether the scheduled wake-up can stay: an up job whose deadline is still ahead has
  -- its wake-up at or before that deadline (a wake-up beyond it is only ever a startup
  -- grace, given to deadlines already past), so a later deadline needs no change.
  local keep_wake = false
  if j then
    if at then
      -- Timestamps a job sends are whole seconds and are compared as such.
      local as, ls = secs(at), secs(j.l)
      if as < ls then return { 'stale', dump(j), 0 } end
      if as == ls then
        -- A retry of a ping already recorded: it must not count twice, nor recover a job
        -- that went down after the original.
        return { 'recorded', dump(j), 0 }
      end
    else
      -- An arrival-time ping never moves the last ping back.
      at = math.max(now, j.l)
    end
    local old_deadline = deadline(j)
    if ftext ~= '' and (ftext ~= j.f or fsecs ~= j.s) then
      j.f = ftext
      j.s = fsecs
    end
    if grace then j.g = grace end
    j.l = at
    j.p = j.p + 1
    if j.d then
      raise(j, name, 'u', now, ARGV[5] .. string.format('%04X', position))
      j.d = nil
      j.r = nil
      j.a = j.a + 1
      redis.call('ZREM', P .. 'down', name)
      outcome = 'recovered'
    end
    j.k = deadline(j) <= now
    keep_wake = outcome == 'recorded' and old_deadline > now and deadline(j) >= old_deadline
    save(name, j)
  else
    if ftext == '' then return { 'frequency' } end
    if redis.call('ZCARD', P .. 'names') >= max then return { 'full' } end
    j = { f = ftext, s = fsecs, g = grace or 0, l = at or now, e = 0, a = 0, p = 1 }
    j.k = deadline(j) <= now
    save(name, j)
    redis.call('ZADD', P .. 'names', 0, name)
  end
  local earliest = 0
  if not keep_wake then earliest = schedule(name, deadline(j)) end
  return { outcome, dump(j), earliest }
end

-- Every job of the call is read with one HMGET, and the short path's writes go out
-- with one HSET. The latest value of each job is kept here, so that a job pinged twice
-- in one call sees its first ping; the full path reads and writes Redis itself, so the
-- writes held back are sent before it runs, and its job is read again after.
local names = {}
for i = 6, #ARGV, 7 do names[#names + 1] = ARGV[i] end
local latest = {}
local values = redis.call('HMGET', JOBS, unpack(names))
for n = #names, 1, -1 do latest[names[n]] = values[n] end
local held = {}

local function send_held()
  if #held > 0 then
    redis.call('HSET', JOBS, unpack(held))
    held = {}
  end
end

local replies = {}
for n = 1, #names do
  local i = 6 + (n - 1) * 7
  local name = names[n]
  local earliest, packed
  if ARGV[i + 6] == '' then
    earliest, packed = quick(latest[name], name, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
      ARGV[i + 4], ARGV[i + 5])
  end
  if earliest then
    if packed ~= latest[name] then
      latest[name] = packed
      held[#held + 1] = name
      held[#held + 1] = packed
    end
    replies[n] = earliest
  else
    send_held()
    replies[n] = ping(name, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5],
      n - 1)
    latest[name] = redis.call('HGET', JOBS, name)
  end
end
send_held()
return replies
