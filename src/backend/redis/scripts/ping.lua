-- Records a batch of pings (SPEC section 3) in order; the whole call is atomic.
-- Only the usual ping is recorded here, on the quick path below: a plain ping of an up
-- job whose frequency and grace do not change. Every other ping (a new job, a down one,
-- a changed frequency or grace, an older timestamp, a caller that wants the job back)
-- is answered with the job's packed value for the Rust side to decide on and store with
-- store.lua; once a job has such a ping, its later pings in the call go the same way,
-- so that per job the pings are applied in the order they came.
-- ARGV: prefix, liveness gap ms ('' when this replica marked itself alive less than
-- half a second ago), the time of that mark, events kept per job (--history), then
-- eight values a ping: name, frequency text ('' = keep), frequency seconds, grace
-- seconds ('' = keep), timestamp ms ('' = arrival), now ms, '1' when the ping must go
-- to Rust (the caller wants the job back, or it is not a plain ping; '' otherwise),
-- and the ping's event as Rust wrote it without its seq (the JSON line after
-- '{"seq":N,'; '' when the history is off).
-- A ping recorded here records its event too, in the same call: the job's event seq
-- goes up by one and the event, numbered with it, goes to the head of ev:<name>.
-- Returns one reply a ping: earliest (an integer, 1 when the job's wake-up is now the
-- first of all) for a ping recorded here; otherwise the job's packed value as it is
-- after the pings before it in the call (false when there is no such job).
--
-- The usual ping (a known job, up, its deadline moving later) rewrites the job's value
-- and leaves the wake-up alone: the old one fires early, and the sweep finds the job not
-- due and re-arms it at the real deadline.
local wake = P .. 'wake'
local history = tonumber(ARGV[4])
-- Unix ms of 9999-12-31T23:59:59.999Z, where UnixTime saturates.
local MAX_MS = 253402300799999

-- A replica that records pings is running: it counts for liveness like a sweep.
if ARGV[2] ~= '' then heartbeat(tonumber(ARGV[3]), tonumber(ARGV[2])) end

local function secs(ms)
  return math.floor(ms / 1000)
end

-- LT: only an earlier wake-up replaces the scheduled one (or a missing one is added).
-- Returns 1 when the job's wake-up changed and is now the first of all, else 0.
local function schedule(name, at_ms)
  if redis.call('ZADD', wake, 'LT', 'CH', int(at_ms), name) == 1 then
    if redis.call('ZRANGE', wake, 0, 0)[1] == name then return 1 end
  end
  return 0
end

-- The usual ping, cut to what it needs: an up job, its frequency and grace unchanged,
-- nobody waiting for the job, no runs. `v` is the job's packed value. Builds no table
-- and returns the earliest flag, the new packed value and the seq of the ping's event
-- (nil for a retry, which records nothing), or nil when the ping is anything else
-- (new, down, with runs, changed, stale, unreadable, an older layout): the Rust side
-- then decides it.
-- Takes the arguments as sent: numbers written by overdue are canonical integer text,
-- so equal values compare equal as strings, and one the ping keeps is written back as
-- it came, without a conversion either way.
local function quick(v, name, ftext, fsecs, grace, at_text, now_text)
  if not v then return nil end
  -- Up only: d and r empty; no runs: u empty. `mid` (d to f) and `tail` (y and u) are
  -- written back as they are, around the seq n.
  local l_text, p, mid, s_text, g_text, f, n, tail = string.match(v,
    '^(%d+)|(%d+)|1?|(||%d+|%d+|(%d+)|(%d+)|([^|]+)|)(%d+)(|%a?|)$')
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
  local seq = tonumber(n) + 1
  local packed = at_text .. '|' .. int(tonumber(p) + 1) .. '|' .. k .. '|' .. mid ..
    int(seq) .. tail
  if old_deadline > now and new_deadline >= old_deadline then return 0, packed, seq end
  return schedule(name, new_deadline), packed, seq
end

-- Every job of the call is read with one HMGET, and the quick path's writes go out with
-- one HSET. The latest value of each job is kept here, so that a job pinged twice in
-- one call sees its first ping.
local FIRST, STRIDE = 5, 8
local names = {}
for i = FIRST, #ARGV, STRIDE do names[#names + 1] = ARGV[i] end
local latest = {}
local values = redis.call('HMGET', JOBS, unpack(names))
for n = #names, 1, -1 do latest[names[n]] = values[n] end
-- Jobs with a ping left to the Rust side in this call.
local slow = {}
local held = {}

local replies = {}
for n = 1, #names do
  local i = FIRST + (n - 1) * STRIDE
  local name = names[n]
  local earliest, packed, seq
  if ARGV[i + 6] == '' and not slow[name] then
    earliest, packed, seq = quick(latest[name], name, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
      ARGV[i + 4], ARGV[i + 5])
  end
  if earliest then
    local line = ARGV[i + 7]
    if seq and history > 0 and line ~= '' then
      local ev = P .. 'ev:' .. name
      if redis.call('LPUSH', ev, '{"seq":' .. int(seq) .. ',' .. line) > history then
        redis.call('LTRIM', ev, 0, history - 1)
      end
    end
    if packed ~= latest[name] then
      latest[name] = packed
      held[#held + 1] = name
      held[#held + 1] = packed
    end
    replies[n] = earliest
  else
    slow[name] = true
    replies[n] = latest[name] or false
  end
end
if #held > 0 then redis.call('HSET', JOBS, unpack(held)) end
return replies
