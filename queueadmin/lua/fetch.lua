-- Move due delayed messages to their priority lists, then fetch up to a count
-- of ready messages, high priority first, unless the queue is paused.
--
-- KEYS[1]: the broker namespace
-- ARGV[1]: the queue name
-- ARGV[2]: the worker (broker) id
-- ARGV[3]: the worker's clock in milliseconds, for its heartbeat
-- ARGV[4]: the maximum number of messages to fetch
-- ARGV[5]: the maximum number of due messages to move in this call
--
-- Returns the encoded messages fetched. Each fetched id is added to the
-- worker's ack set, as Dramatiq's own fetch does, so that ack, nack and the
-- recovery of a dead worker's messages work unchanged.

local namespace = KEYS[1]
local queue_name = ARGV[1]
local worker_id = ARGV[2]
local heartbeat_ms = ARGV[3]
local fetch_count = tonumber(ARGV[4])
local move_limit = tonumber(ARGV[5])
local base = namespace .. ":" .. queue_name

redis.call("zadd", namespace .. ":__heartbeats__", heartbeat_ms, worker_id)

local lists = { high = base .. ".high", normal = base, low = base .. ".low" }

local time = redis.call("time")
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- Due messages move even while the queue is paused: they wait in their list,
-- in due-time order, until the queue is resumed.
local due = redis.call("zrangebyscore", base .. ".delayed", "-inf", now_ms, "LIMIT", 0, move_limit)
for _, redis_message_id in ipairs(due) do
    redis.call("zrem", base .. ".delayed", redis_message_id)
    -- Redis message ids read "<priority level>:<job id>:<nonce>".
    local level, job_id = string.match(redis_message_id, "^(%a+):([^:]+):")
    redis.call("rpush", lists[level] or base, redis_message_id)
    if job_id and redis.call("hget", base .. ".delayed.jobs", job_id) == redis_message_id then
        redis.call("hdel", base .. ".delayed.jobs", job_id)
    end
end

if redis.call("sismember", namespace .. ":__paused__", queue_name) == 1 then
    return {}
end

local acks = namespace .. ":__acks__." .. worker_id .. "." .. queue_name
local ids = {}
for _, list in ipairs({ lists.high, lists.normal, lists.low }) do
    while #ids < fetch_count do
        local redis_message_id = redis.call("lpop", list)
        if not redis_message_id then
            break
        end
        ids[#ids + 1] = redis_message_id
        redis.call("sadd", acks, redis_message_id)
    end
end

if #ids == 0 then
    return {}
end
return redis.call("hmget", base .. ".msgs", unpack(ids))
