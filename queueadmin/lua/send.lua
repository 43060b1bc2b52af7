-- Send messages to one queue: ready ones to the list of their priority, delayed
-- ones to the queue's due-time sorted set. An item whose idempotency key is
-- already taken is not sent and yields the job id stored under that key.
--
-- KEYS[1]: the broker namespace
-- ARGV[1]: the queue name
-- ARGV[2]: idempotency key lifetime in seconds
-- ARGV[3..]: six values per message: redis message id, encoded message,
--   priority level (high, normal or low), delay in milliseconds (0 means ready),
--   job id, idempotency key ("" for none). Redis message ids read
--   "<priority level>:<job id>:<nonce>"; the fetch script reads both parts.
--
-- Returns one value per message: "" when sent, else the existing job id.
--
-- Keys under "<namespace>:<queue>":
--   (no suffix), ".high", ".low"  lists of redis message ids, one per priority
--   ".msgs"                        hash of redis message id -> encoded message
--   ".delayed"                     sorted set of redis message ids by due time (ms)
--   ".delayed.jobs"                hash of job id -> redis message id of a delayed
--                                  message, so that the job can be cancelled
--   ".wake"                        list with at most one token; idle consumers
--                                  block on it (BLPOP) instead of polling

local namespace = KEYS[1]
local queue_name = ARGV[1]
local idempotency_ttl = tonumber(ARGV[2])
local base = namespace .. ":" .. queue_name
local wake = base .. ".wake"

local lists = { high = base .. ".high", normal = base, low = base .. ".low" }

-- Redis's clock orders all due times, so clock skew between hosts does not
-- move a job earlier or later.
local time = redis.call("time")
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local results = {}
local index = 0
local ready = 0
for i = 3, #ARGV, 6 do
    local redis_message_id = ARGV[i]
    local data = ARGV[i + 1]
    local level = ARGV[i + 2]
    local delay_ms = tonumber(ARGV[i + 3])
    local job_id = ARGV[i + 4]
    local idempotency_key = ARGV[i + 5]
    index = index + 1

    local existing = nil
    if idempotency_key ~= "" then
        local key = namespace .. ":idem:" .. idempotency_key
        if not redis.call("set", key, job_id, "NX", "EX", idempotency_ttl) then
            existing = redis.call("get", key)
        end
    end

    if existing then
        results[index] = existing
    else
        results[index] = ""
        redis.call("hset", base .. ".msgs", redis_message_id, data)
        if delay_ms > 0 then
            redis.call("zadd", base .. ".delayed", now_ms + delay_ms, redis_message_id)
            redis.call("hset", base .. ".delayed.jobs", job_id, redis_message_id)
        else
            redis.call("rpush", lists[level] or base, redis_message_id)
            ready = ready + 1
        end
    end
end

-- One token is enough: the consumer that takes it passes it on while ready
-- messages remain (see fetch.lua).
if ready > 0 and redis.call("llen", wake) == 0 then
    redis.call("rpush", wake, "1")
end
return results
