-- Records a ping (SPEC section 3) in one atomic step.
-- ARGV: prefix, name, frequency text ('' = keep), frequency seconds, grace seconds
-- ('' = keep), timestamp ms ('' = arrival), now ms, max services, id of an up alert.
-- Returns { outcome, job, earliest } where outcome is recorded | recovered | stale,
-- job is dump(), earliest is 1 when the job's wake-up is now the first of all; or
-- { frequency } | { full } | { corrupt }.
local name = ARGV[2]
local ftext = ARGV[3]
local fsecs = tonumber(ARGV[4])
local grace = tonumber(ARGV[5])
local at = tonumber(ARGV[6])
local now = tonumber(ARGV[7])
local max = tonumber(ARGV[8])
local alert_id = ARGV[9]
local key = job_key(name)
local wake = P .. 'wake'

local j = load(key)
if j == false then return { 'corrupt' } end
local outcome = 'recorded'
local before = nil
if j then
  before = { d = j.d, r = j.r, k = j.k }
  if at then
    -- Timestamps a job sends are whole seconds and are compared as such.
    local as, ls = secs(at), secs(j.l)
    if as < ls then return { 'stale', dump(j), 0 } end
    if as == ls then
      -- A retry of a ping already recorded: it must not count twice, nor recover a job
      -- that went down after the original.
      count_ping(now)
      return { 'recorded', dump(j), 0 }
    end
  else
    -- An arrival-time ping never moves the last ping back.
    at = math.max(now, j.l)
  end
  if ftext ~= '' then
    j.f = ftext
    j.s = fsecs
  end
  if grace then j.g = grace end
  j.l = at
  j.p = j.p + 1
  if j.d then
    raise(j, name, 'u', now, alert_id)
    j.d = nil
    j.r = nil
    j.a = j.a + 1
    redis.call('ZREM', P .. 'down', name)
    outcome = 'recovered'
  end
else
  if ftext == '' then return { 'frequency' } end
  if redis.call('ZCARD', P .. 'names') >= max then return { 'full' } end
  j = { f = ftext, s = fsecs, g = grace or 0, l = at or now, e = 0, a = 0, p = 1 }
  redis.call('ZADD', P .. 'names', 0, name)
end
local due_at = deadline(j)
j.k = due_at <= now
save(key, j, before)
redis.call('ZADD', wake, int(due_at), name)
count_ping(now)
local first = redis.call('ZRANGE', wake, 0, 0)[1]
return { outcome, dump(j), first == name and 1 or 0 }
