-- Reads what a sweep decides on, in one atomic step: the jobs whose wake-up passed, their
-- packed values, and when the deployment last resumed after no replica ran. It decides
-- nothing and changes nothing but the liveness mark, which must come first: a replica
-- starting after an outage must see the `resumed` its own sweep sets.
-- ARGV: prefix, now ms, limit, liveness gap ms.
-- Returns { names, values (false for a job that is gone), resumed ms or false }.
local now = tonumber(ARGV[2])
heartbeat(now, tonumber(ARGV[4]))
-- A job is due just after its wake-up (domain::is_due): strictly below now.
local names = redis.call('ZRANGEBYSCORE', P .. 'wake', '-inf', '(' .. int(now), 'LIMIT', 0,
  tonumber(ARGV[3]))
local values = {}
if #names > 0 then values = redis.call('HMGET', JOBS, unpack(names)) end
return { names, values, redis.call('HGET', P .. 'meta', 'resumed') }
