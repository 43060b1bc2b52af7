-- Move due delayed messages to their priority lists, then fetch up to a count
-- of ready messages, high priority first, unless the queue is paused.
--
-- KEYS[1]: the broker namespace
-- ARGV[1]: the queue name
-- ARGV[2]: the worker (broker) id
-- ARGV[3]: the worker's clock in milliseconds, for its heartbeat
-- ARGV[4]: the maximum number of messages to fetch
-- ARGV[5]: the maximum number of due messages to move in this call
-- ARGV[6]: seconds that a delivery count is kept
-- ARGV[7]: "" to claim no idempotency keys, else a JSON object of claim
--          lifetimes in milliseconds per actor name (see below)
-- ARGV[8]: milliseconds added to a message's own "time_limit" option for its
--          claim's lifetime
--
-- Returns a flat list. Its first value is the number of milliseconds until the
-- queue's next delayed message is due, or -1 when there is none. It is
-- returned after a fetch of messages too, so that a consumer that the fetch
-- fills up can wake another one when that time comes (see queueadmin/broker.py).
-- Four values per fetched message follow: the encoded message,
-- how many times it has been fetched without being settled (this time
-- included), the outcome of its idempotency claim and its redis message id,
-- with which a worker settles a message that it cannot decode. The count lives in
-- "<namespace>:deliveries:<redis message id>" (see queueadmin/deliveries.py).
--
-- The claim is the one that claim_run in queueadmin/idempotency.py makes, done
-- here so that a job needs no Redis round trip of its own before it starts.
-- For a message of an actor named in ARGV[7], the script sets
-- "<namespace>:idem-run:<actor>:<key>" to "running:<job id>:<redis message id>"
-- unless another value is there. The key is the envelope's idempotency key, or
-- the job id for a message without an envelope. The outcome is 1 when this
-- delivery has the claim now, the value found when another delivery has
-- claimed or completed the key, and 0 when no claim was made.
--
-- Each fetched id is added to the worker's ack set, as Dramatiq's own fetch
-- does, so that ack, nack and the recovery of a dead worker's messages work
-- unchanged. A fetch that leaves ready messages behind puts a token on the
-- queue's ".wake" list (see send.lua), so another idle consumer blocked on it
-- wakes up and takes them.

local namespace = KEYS[1]
local queue_name = ARGV[1]
local worker_id = ARGV[2]
local heartbeat_ms = ARGV[3]
local fetch_count = tonumber(ARGV[4])
local move_limit = tonumber(ARGV[5])
local delivery_ttl = tonumber(ARGV[6])
local claim_ttls = ARGV[7] ~= "" and cjson.decode(ARGV[7]) or nil
local claim_margin_ms = tonumber(ARGV[8])
local base = namespace .. ":" .. queue_name

redis.call("zadd", namespace .. ":__heartbeats__", heartbeat_ms, worker_id)

local lists = { high = base .. ".high", normal = base, low = base .. ".low" }

-- An idle queue's fetch costs Redis few commands: the clock is read and due
-- messages are looked for only when something is delayed, and the lists are
-- popped only when one of them has messages.
local delayed = base .. ".delayed"
local first_delayed = redis.call("zrange", delayed, 0, 0, "WITHSCORES")
local now_ms = nil
if #first_delayed > 0 then
    local time = redis.call("time")
    now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Due messages move even while the queue is paused: they wait in their list,
-- in due-time order, until the queue is resumed.
if now_ms and tonumber(first_delayed[2]) <= now_ms then
    local due = redis.call("zrangebyscore", delayed, "-inf", now_ms, "LIMIT", 0, move_limit)
    for _, redis_message_id in ipairs(due) do
        redis.call("zrem", delayed, redis_message_id)
        -- Redis message ids read "<priority level>:<job id>:<nonce>".
        local level, job_id = string.match(redis_message_id, "^(%a+):([^:]+):")
        redis.call("rpush", lists[level] or base, redis_message_id)
        if job_id and redis.call("hget", base .. ".delayed.jobs", job_id) == redis_message_id then
            redis.call("hdel", base .. ".delayed.jobs", job_id)
        end
    end
    first_delayed = redis.call("zrange", delayed, 0, 0, "WITHSCORES")
end

local function next_due_ms()
    if #first_delayed == 0 then
        return -1
    end
    return math.max(0, tonumber(first_delayed[2]) - now_ms)
end

if redis.call("sismember", namespace .. ":__paused__", queue_name) == 1 then
    return { next_due_ms() }
end

local acks = namespace .. ":__acks__." .. worker_id .. "." .. queue_name
local ids = {}
if redis.call("exists", lists.high, lists.normal, lists.low) > 0 then
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
end

if #ids == 0 then
    return { next_due_ms() }
end

local wake = base .. ".wake"
if redis.call("llen", wake) == 0
    and (redis.call("llen", lists.high) > 0
        or redis.call("llen", lists.normal) > 0
        or redis.call("llen", lists.low) > 0) then
    redis.call("rpush", wake, "1")
end

local function claim(data, redis_message_id)
    local decoded, message = pcall(cjson.decode, data)
    if not decoded or type(message) ~= "table" or type(message.actor_name) ~= "string" then
        -- No claim: the worker reports the message that it cannot decode.
        return 0
    end
    local ttl = claim_ttls[message.actor_name]
    if not ttl then
        return 0
    end
    local options = type(message.options) == "table" and message.options or {}
    if type(options.time_limit) == "number" and options.time_limit > 0 then
        ttl = options.time_limit + claim_margin_ms
    end
    local key = message.message_id
    local envelope = options.envelope
    if type(envelope) == "table" and type(envelope.idempotency_key) == "string" then
        key = envelope.idempotency_key
    end
    local run_key = namespace .. ":idem-run:" .. message.actor_name .. ":" .. key
    if options.retried_from_dead_letter == true then
        redis.call("del", run_key)
    end
    local holder = "running:" .. message.message_id .. ":" .. redis_message_id
    local current = redis.call("get", run_key)
    if current and current ~= holder then
        return current
    end
    redis.call("set", run_key, holder, "PX", math.floor(ttl))
    return 1
end

local messages = redis.call("hmget", base .. ".msgs", unpack(ids))
local result = { next_due_ms() }
for i, redis_message_id in ipairs(ids) do
    local deliveries = namespace .. ":deliveries:" .. redis_message_id
    local count = redis.call("incr", deliveries)
    redis.call("expire", deliveries, delivery_ttl)
    local outcome = 0
    if claim_ttls and messages[i] then
        outcome = claim(messages[i], redis_message_id)
    end
    result[#result + 1] = messages[i]
    result[#result + 1] = count
    result[#result + 1] = outcome
    result[#result + 1] = redis_message_id
end
return result
