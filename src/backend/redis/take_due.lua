-- Claims the jobs whose wake-up passed: marks them down or schedules their next
-- reminder, and appends their alerts to the outbox, all in one atomic step, so that
-- whichever replica runs it first takes a job and the others find it re-armed.
-- ARGV: prefix, now ms, limit, reminder interval s (0 = alert once), startup grace s,
-- alert id prefix (22 characters of a fresh ULID), liveness gap ms.
-- Returns { alerts, unreadable, examined }: the outbox entries raised, the names of jobs
-- whose fields do not parse (taken out of the schedule), and how many wake-ups were due.
local now = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local every = tonumber(ARGV[4])
local startup_grace = tonumber(ARGV[5])
local id_prefix = ARGV[6]
local gap = tonumber(ARGV[7])
local wake = P .. 'wake'

heartbeat(now, gap)
local resumed = tonumber(redis.call('HGET', P .. 'meta', 'resumed'))

local alerts = {}
local unreadable = {}
-- A job is due just after its wake-up (backend::due): strictly below now.
local names = redis.call('ZRANGEBYSCORE', wake, '-inf', '(' .. int(now), 'LIMIT', 0, limit)
for _, name in ipairs(names) do
  local j = load(name)
  if j == nil then
    redis.call('ZREM', wake, name)
  elseif j == false then
    redis.call('ZREM', wake, name)
    unreadable[#unreadable + 1] = name
  else
    local target
    if j.d then
      target = j.r
    else
      target = deadline(j)
      -- Fell due while no replica was running: until resumed + min(frequency + grace,
      -- startup grace). A job pinged since, with a deadline already passed, is excluded.
      if resumed and not j.k and target < resumed then
        local extra = math.min(j.s + j.g, startup_grace)
        target = math.max(target, plus(resumed, extra))
      end
    end
    if not target then
      redis.call('ZREM', wake, name)
    elseif target >= now then
      redis.call('ZADD', wake, int(target), name)
    else
      if j.d then
        j.e = j.e + 1
      else
        j.d = deadline(j)
        j.e = 1
        redis.call('ZADD', P .. 'down', 0, name)
      end
      j.a = j.a + 1
      if every > 0 then j.r = plus(now, every) else j.r = nil end
      j.k = false
      alerts[#alerts + 1] = raise(j, name, 'd', now, id_prefix .. string.format('%04X', #alerts))
      save(name, j)
      if j.r then
        redis.call('ZADD', wake, int(j.r), name)
      else
        redis.call('ZREM', wake, name)
      end
    end
  end
end
return { alerts, unreadable, #names }
