-- One page of jobs sorted by name (byte order, as the local backend sorts).
-- ARGV: prefix, status ('' | 'up' | 'down'), after ('' = from the first), limit.
-- Returns { jobs, total, down } where each job is { name, dump() fields } and at most
-- limit + 1 jobs are returned (one more tells that there is a next page).
local status = ARGV[2]
local after = ARGV[3]
local limit = tonumber(ARGV[4])
local source = P .. 'names'
if status == 'down' then source = P .. 'down' end
local start = '-'
if after ~= '' then start = '(' .. after end

local jobs = {}
while #jobs <= limit do
  local names = redis.call('ZRANGEBYLEX', source, start, '+', 'LIMIT', 0, 512)
  if #names == 0 then break end
  local values = redis.call('HMGET', JOBS, unpack(names))
  for n, name in ipairs(names) do
    local j = unpack_job(values[n])
    if j then
      if status == '' or (status == 'down') == (j.d ~= nil) then
        jobs[#jobs + 1] = { name, unpack(dump(j)) }
        if #jobs > limit then break end
      end
    elseif j == false and status == '' then
      -- Sent as it is: the Rust side skips it with a warning, as the local store skips
      -- a row it cannot read.
      jobs[#jobs + 1] = { name, values[n] }
    end
    start = '(' .. name
  end
end
return { jobs, redis.call('ZCARD', P .. 'names'), redis.call('ZCARD', P .. 'down') }
