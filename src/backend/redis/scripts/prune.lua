-- Housekeeping of the outbox group at start and stop. ARGV: prefix, consumer, idle ms.
-- Creates the group when missing, and deletes consumers that hold no pending alert and
-- have been idle for longer than ARGV[3] (replicas that stopped; deleting one with
-- pending alerts would lose them, so those stay until XAUTOCLAIM empties them).
-- ARGV[2], when not empty, is this replica's own consumer, deleted when it holds none.
local me = ARGV[2]
local idle = tonumber(ARGV[3])
local created = redis.pcall('XGROUP', 'CREATE', OUTBOX, GROUP, '0', 'MKSTREAM')
if type(created) == 'table' and created.err and not string.find(created.err, 'BUSYGROUP', 1, true) then
  return redis.error_reply(created.err)
end
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', OUTBOX, GROUP)) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['pending'] == 0 and (info['name'] == me or info['idle'] > idle) then
    redis.call('XGROUP', 'DELCONSUMER', OUTBOX, GROUP, info['name'])
    removed = removed + 1
  end
end
return removed
