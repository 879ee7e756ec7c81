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
  for _, name in ipairs(names) do
    local v = redis.call('HMGET', job_key(name), 'f', 's', 'g', 'l', 'd', 'e', 'a', 'p', 'r')
    if v[1] then
      local down = v[5] ~= false
      if status == '' or (status == 'down') == down then
        jobs[#jobs + 1] = { name, v[1], v[2] or '', v[3] or '', v[4] or '', v[5] or '',
          v[6] or '', v[7] or '', v[8] or '', v[9] or '' }
        if #jobs > limit then break end
      end
    end
    start = '(' .. name
  end
end
return { jobs, redis.call('ZCARD', P .. 'names'), redis.call('ZCARD', P .. 'down') }
