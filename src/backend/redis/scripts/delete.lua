-- Removes job ARGV[2], its history and its undelivered alerts. Returns 1, or 0 when unknown.
local name = ARGV[2]
if redis.call('HDEL', JOBS, name) == 0 then return 0 end
redis.call('ZREM', P .. 'names', name)
redis.call('ZREM', P .. 'down', name)
redis.call('ZREM', P .. 'wake', name)
redis.call('DEL', P .. 'ev:' .. name)
drop_alerts(name)
return 1
