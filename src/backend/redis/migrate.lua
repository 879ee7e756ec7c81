-- Moves jobs stored as before 2026-12-06, one hash a job (`j:<name>` with the fields
-- f s g l d e a p r k), into `jobs`, a slice of `names` a call so that Redis is never
-- held for long. ARGV: prefix, index in `names` to start at, slice length.
-- Returns the index of the next slice; a slice shorter than asked was the last, and
-- `meta`'s `layout` then says so: later starts get -1 at once.
if redis.call('HGET', P .. 'meta', 'layout') == '2' then return -1 end
local from = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local names = redis.call('ZRANGE', P .. 'names', from, from + count - 1)
for _, name in ipairs(names) do
  local old = P .. 'j:' .. name
  local v = redis.call('HMGET', old, 'f', 's', 'g', 'l', 'd', 'e', 'a', 'p', 'r', 'k')
  if v[1] then
    if redis.call('HEXISTS', JOBS, name) == 0 then
      local j = {
        f = v[1], s = tonumber(v[2]), g = tonumber(v[3]), l = tonumber(v[4]),
        e = tonumber(v[6]), a = tonumber(v[7]), p = tonumber(v[8]), k = v[10] and true or false,
        d = v[5] and tonumber(v[5]), r = v[9] and tonumber(v[9]),
      }
      if j.s and j.g and j.l and j.e and j.a and j.p and (j.d or not v[5])
        and (j.r or not v[9]) then
        save(name, j)
      else
        -- Kept as found, and as unreadable as it was: the sweep reports it.
        local raw = {}
        for i = 1, 10 do raw[i] = v[i] or '' end
        redis.call('HSET', JOBS, name, 'unreadable|' .. table.concat(raw, '|'))
      end
    end
    redis.call('DEL', old)
  end
end
if #names < count then redis.call('HSET', P .. 'meta', 'layout', '2') end
return from + #names
