-- Reads a page of job ARGV[2]'s history (SPEC section 13), newest first: the events
-- with a seq below ARGV[3] ('' = from the newest), at most ARGV[4] of them and one
-- more when older ones exist. Returns false for an unknown job, else the JSON lines.
-- ev:<name> holds the events newest first, each line beginning with '{"seq":N,'. Their
-- seqs go down by one from the head, so the first one below `before` is found by
-- arithmetic; the walks only correct the guess should the list ever have a gap.
local name, before, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HEXISTS', JOBS, name) == 0 then return false end
local ev = P .. 'ev:' .. name

local function seq_at(i)
  local line = redis.call('LINDEX', ev, i)
  if not line then return nil end
  return tonumber(string.match(line, '^{"seq":(%d+),'))
end

local start = 0
if before ~= '' then
  before = tonumber(before)
  local head = seq_at(0)
  if not head then return {} end
  start = head - before + 1
  if start < 0 then start = 0 end
  local seq = seq_at(start)
  while seq and seq >= before do
    start = start + 1
    seq = seq_at(start)
  end
  while start > 0 do
    local newer = seq_at(start - 1)
    if newer and newer < before then start = start - 1 else break end
  end
end
return redis.call('LRANGE', ev, start, start + limit)
