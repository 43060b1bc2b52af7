-- Put messages that a worker fetched but did not finish back at the head of
-- their priority lists, for example when the worker shuts down. The delivery
-- that the fetch counted is taken back, so the handover does not count as a crash.
--
-- KEYS[1]: the broker namespace
-- ARGV[1]: the queue name
-- ARGV[2]: the worker (broker) id
-- ARGV[3..]: the redis message ids, in the order they were fetched

local namespace = KEYS[1]
local queue_name = ARGV[1]
local base = namespace .. ":" .. queue_name
local acks = namespace .. ":__acks__." .. ARGV[2] .. "." .. queue_name
local lists = { high = base .. ".high", normal = base, low = base .. ".low" }

-- Pushing in reverse order onto the head keeps the original order.
local requeued = 0
for i = #ARGV, 3, -1 do
    local redis_message_id = ARGV[i]
    if redis.call("srem", acks, redis_message_id) > 0
        and redis.call("hexists", base .. ".msgs", redis_message_id) > 0 then
        local level = string.match(redis_message_id, "^(%a+):")
        redis.call("lpush", lists[level] or base, redis_message_id)
        requeued = requeued + 1
        local deliveries = namespace .. ":deliveries:" .. redis_message_id
        if tonumber(redis.call("get", deliveries) or "0") > 0 then
            redis.call("decr", deliveries)
        end
    end
end

-- Wake an idle consumer, which takes them at once (see send.lua).
local wake = base .. ".wake"
if requeued > 0 and redis.call("llen", wake) == 0 then
    redis.call("rpush", wake, "1")
end
