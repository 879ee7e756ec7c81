-- One page of jobs sorted by name (byte order, as the local backend sorts).
-- ARGV: prefix, status ('' | 'up' | 'down' | 'paused'), after ('' = from the first),
-- limit.
-- Returns { jobs, total, down, paused } where each job is { name, packed value } and at
-- most limit + 1 jobs are returned (one more tells that there is a next page). The
-- `down` and `paused` sets are changed in the same step as the job's value, so they
-- tell a job's status.
local status = ARGV[2]
local after = ARGV[3]
local limit = tonumber(ARGV[4])
local source = P .. 'names'
if status == 'down' then source = P .. 'down' end
if status == 'paused' then source = P .. 'paused' end
local start = '-'
if after ~= '' then start = '(' .. after end

local jobs = {}
while #jobs <= limit do
  local names = redis.call('ZRANGEBYLEX', source, start, '+', 'LIMIT', 0, 512)
  if #names == 0 then break end
  local values = redis.call('HMGET', JOBS, unpack(names))
  for n, name in ipairs(names) do
    local v = values[n]
    if v and (status ~= 'up' or not (redis.call('ZSCORE', P .. 'down', name)
        or redis.call('ZSCORE', P .. 'paused', name))) then
      jobs[#jobs + 1] = { name, v }
      if #jobs > limit then break end
    end
    start = '(' .. name
  end
end
return { jobs, redis.call('ZCARD', P .. 'names'), redis.call('ZCARD', P .. 'down'),
  redis.call('ZCARD', P .. 'paused') }
