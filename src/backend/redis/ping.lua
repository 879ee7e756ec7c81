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
-- The usual ping (a known job, up, its deadline moving later) writes two fields and
-- leaves the wake-up alone: the old one fires early, and the sweep finds the job not
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
-- nobody waiting for the job. Reads seven fields, builds no table and answers one
-- integer (the earliest flag). Returns nil when the ping is anything else (new, down,
-- changed, stale, unreadable): the full path then takes it from the start.
-- Takes the arguments as sent: numbers written by overdue are canonical integer text,
-- so equal values compare equal as strings, and one the ping keeps is written back as
-- it came, without a conversion either way.
local function quick(key, name, ftext, fsecs, grace, at_text, now_text)
  local v = redis.call('HMGET', key, 'f', 's', 'g', 'l', 'd', 'p', 'k')
  if not v[1] or v[5] then return nil end
  if ftext ~= '' and (ftext ~= v[1] or fsecs ~= v[2]) then return nil end
  if grace ~= '' and grace ~= v[3] then return nil end
  local s, g, l, p = tonumber(v[2]), tonumber(v[3]), tonumber(v[4]), tonumber(v[6])
  if not (s and g and l and p) then return nil end
  local now = tonumber(now_text)
  local at
  if at_text ~= '' then
    at = tonumber(at_text)
    local as, ls = secs(at), secs(l)
    if as < ls then return nil end
    -- A retry of a ping already recorded counts once.
    if as == ls then return 0 end
  elseif now >= l then
    at, at_text = now, now_text
  else
    at, at_text = l, v[4]
  end
  local old_deadline = plus(plus(l, s), g)
  local new_deadline = plus(plus(at, s), g)
  local was_k, k = v[7] and true or false, new_deadline <= now
  if k and not was_k then
    redis.call('HSET', key, 'l', at_text, 'p', int(p + 1), 'k', '1')
  else
    redis.call('HSET', key, 'l', at_text, 'p', int(p + 1))
    if was_k and not k then redis.call('HDEL', key, 'k') end
  end
  if old_deadline > now and new_deadline >= old_deadline then return 0 end
  return schedule(name, new_deadline)
end

local function ping(name, ftext, fsecs, grace, at, now, want, position)
  local key = job_key(name)
  if want == '' then
    local earliest = quick(key, name, ftext, fsecs, grace, at, now)
    if earliest then return earliest end
  end
  fsecs, grace, at, now = tonumber(fsecs), tonumber(grace), tonumber(at), tonumber(now)
  local j = load(key)
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
    local before = { d = j.d, r = j.r, k = j.k }
    local old_deadline = deadline(j)
    local changed = { 'l', int(at), 'p', int(j.p + 1) }
    if ftext ~= '' and (ftext ~= j.f or fsecs ~= j.s) then
      j.f = ftext
      j.s = fsecs
      changed[#changed + 1] = 'f'
      changed[#changed + 1] = ftext
      changed[#changed + 1] = 's'
      changed[#changed + 1] = int(fsecs)
    end
    if grace and grace ~= j.g then
      j.g = grace
      changed[#changed + 1] = 'g'
      changed[#changed + 1] = int(grace)
    end
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
    if outcome == 'recovered' then
      save(key, j, before)
    else
      if j.k and not before.k then
        changed[#changed + 1] = 'k'
        changed[#changed + 1] = '1'
      elseif before.k and not j.k then
        redis.call('HDEL', key, 'k')
      end
      redis.call('HSET', key, unpack(changed))
    end
  else
    if ftext == '' then return { 'frequency' } end
    if redis.call('ZCARD', P .. 'names') >= max then return { 'full' } end
    j = { f = ftext, s = fsecs, g = grace or 0, l = at or now, e = 0, a = 0, p = 1 }
    j.k = deadline(j) <= now
    save(key, j, nil)
    redis.call('ZADD', P .. 'names', 0, name)
  end
  local earliest = 0
  if not keep_wake then earliest = schedule(name, deadline(j)) end
  return { outcome, dump(j), earliest }
end

local replies = {}
for i = 6, #ARGV, 7 do
  replies[#replies + 1] = ping(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
    ARGV[i + 5], ARGV[i + 6], #replies)
end
return replies
