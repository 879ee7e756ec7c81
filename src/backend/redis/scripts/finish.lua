-- Ends an attempt on a leased entry. ARGV: prefix, consumer, job name, alert id,
-- outcome ('done' = delivered or given up, 'retry', 'defer' = offered again later
-- without counting an attempt), retry time ms, now ms, channel key ('' for PING_ALERT_URI's or the log).
-- Returns 1 when something changed, 0 when the entry is no longer its queue's head
-- (delivered by another replica after a lease expired, or its job was deleted).
local consumer = ARGV[2]
local name = ARGV[3]
local alert_id = ARGV[4]
local outcome = ARGV[5]
local retry_at = ARGV[6]
local now = tonumber(ARGV[7])
local q = queue_of(name, ARGV[8])
local ready = P .. 'ready'

local id = redis.call('LINDEX', q, 0)
if not id then return 0 end
local entry = entry_of(id)
if entry and field(entry, 'i') ~= alert_id then return 0 end

if outcome == 'done' then
  -- Acknowledged and removed together, so the stream only holds undelivered alerts.
  redis.pcall('XACK', OUTBOX, GROUP, id)
  redis.call('XDEL', OUTBOX, id)
  redis.call('LPOP', q)
  uncount(ARGV[8], 1)
  redis.call('HDEL', P .. 'att', id)
  redis.call('ZREM', ready, id)
  -- The next alert of the job is ready since it was raised, so that across jobs the
  -- oldest go first.
  local next_id = redis.call('LINDEX', q, 0)
  if not next_id and ARGV[8] ~= '' then
    redis.call('SREM', P .. 'qs:' .. name, ARGV[8])
  end
  if next_id then
    local next_entry = entry_of(next_id)
    local raised = next_entry and tonumber(field(next_entry, 'r')) or now
    redis.call('ZADD', ready, int(raised), next_id)
  end
  return 1
end

-- Only the consumer holding the lease reschedules: after a takeover, the new holder's
-- attempt decides.
local pending = redis.pcall('XPENDING', OUTBOX, GROUP, id, id, 1, consumer)
if type(pending) ~= 'table' or pending.err or #pending == 0 then return 0 end
if outcome == 'retry' then redis.call('HINCRBY', P .. 'att', id, 1) end
redis.call('ZADD', ready, retry_at, id)
return 1
