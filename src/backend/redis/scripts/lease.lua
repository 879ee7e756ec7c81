-- Leases entries ready for an attempt to consumer ARGV[2] of the outbox's group: at most
-- one per job and channel, its queue's head, so that per job and channel alerts go out
-- in the order raised.
-- ARGV: prefix, consumer, now ms, limit, lease ms, liveness gap ms, then pairs of
-- '<consumer>:<minute>', count: this replica's pings per minute, for pings_per_hour.
-- Returns { { entry id, fields, attempts }, ... }.
--
-- An entry is handed out in one of three ways, each at most once per turn:
-- 1. it is in `ready` (it became its job's head, or its retry time came) and pending:
--    XCLAIM moves it to this consumer;
-- 2. it is new to the group (XREADGROUP >) and already its job's head;
-- 3. it has been pending for longer than the lease without being finished or
--    rescheduled: its consumer died mid-delivery, XAUTOCLAIM takes it over.
-- Entries that are not their job's head stay pending, waiting for their turn.
local consumer = ARGV[2]
local now = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local lease = ARGV[5]
local gap = tonumber(ARGV[6])
local ready = P .. 'ready'

heartbeat(now, gap)
if #ARGV > 6 then
  redis.call('HSET', P .. 'pings', unpack(ARGV, 7))
end

local out = {}
local function is_head(entry)
  local name = field(entry, 'n')
  return name and redis.call('LINDEX', queue_of(name, field(entry, 'h')), 0) == entry[1]
end
local function take(entry)
  local attempts = redis.call('HGET', P .. 'att', entry[1]) or '0'
  out[#out + 1] = { entry[1], entry[2], attempts }
end
local function waiting(id)
  return redis.call('ZSCORE', ready, id)
end

local turn = redis.call('ZRANGEBYSCORE', ready, '-inf', int(now), 'LIMIT', 0, limit)
for _, id in ipairs(turn) do
  redis.call('ZREM', ready, id)
  -- Not yet read by the group: step 2 hands it out.
  local claimed = redis.pcall('XCLAIM', OUTBOX, GROUP, consumer, 0, id, 'JUSTID')
  if type(claimed) == 'table' and claimed[1] then
    local entry = entry_of(id)
    if entry and is_head(entry) then take(entry) end
  end
end

if #out < limit then
  local read = redis.pcall('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', limit - #out,
    'STREAMS', OUTBOX, '>')
  if type(read) == 'table' and read.err then
    if not string.find(read.err, 'NOGROUP', 1, true) then return redis.error_reply(read.err) end
    -- First use, or Redis lost its data: the group starts at the oldest entry.
    redis.call('XGROUP', 'CREATE', OUTBOX, GROUP, '0', 'MKSTREAM')
    read = redis.call('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', limit - #out,
      'STREAMS', OUTBOX, '>')
  end
  if read then
    for _, entry in ipairs(read[1][2]) do
      if is_head(entry) and not waiting(entry[1]) then take(entry) end
    end
  end
end

if #out < limit then
  local claimed = redis.pcall('XAUTOCLAIM', OUTBOX, GROUP, consumer, lease, '0-0',
    'COUNT', limit - #out, 'JUSTID')
  if type(claimed) == 'table' and not claimed.err then
    for _, id in ipairs(claimed[2]) do
      local entry = entry_of(id)
      if entry and is_head(entry) and not waiting(id) then take(entry) end
    end
  end
end
return out
