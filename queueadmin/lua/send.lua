-- Send messages to one queue: ready ones to the list of their priority, delayed
-- ones to the queue's due-time sorted set. An item whose idempotency key is
-- already taken is not sent and yields the job id stored under that key.
--
-- KEYS[1]: the broker namespace
-- ARGV[1]: the queue name
-- ARGV[2]: idempotency key lifetime in seconds
-- ARGV[3]: delay in milliseconds for every message (0 means ready)
-- ARGV[4]: the messages, one after the other. Each has a 16-byte header of
--   four lengths (big-endian unsigned 32-bit integers) and then four fields of
--   those lengths: the redis message id, the job id, the idempotency key (""
--   for none) and the encoded message. One argument instead of four per
--   message spares the client most of its per-argument work, and one
--   struct.unpack per header costs less than finding and converting four
--   decimal numbers. Redis message ids read "<priority level>:<job id>:<nonce>",
--   priority level being high, normal or low; the fetch script reads both parts.
-- ARGV[5] to ARGV[9], optional: the job record of each message sent. ARGV[5] is
--   the list that gets one event per message sent, ARGV[6] the send's time and
--   ARGV[7] the due time (UNIX seconds as JSON numbers, or null). The event is
--   {"kind":"sent","ts":<ARGV[6]>,"eta":<ARGV[7]>,"message":<encoded message>}.
--   ARGV[8] and ARGV[9] are the hash and field that count the messages sent.
--
-- Returns, for each message not sent because its idempotency key is taken, its
-- position (1 for the first message) followed by the job id stored under the
-- key: an empty list when every message was sent.
--
-- Keys under "<namespace>:<queue>":
--   (no suffix), ".high", ".low"  lists of redis message ids, one per priority
--   ".msgs"                        hash of redis message id -> encoded message
--   ".delayed"                     sorted set of redis message ids by due time (ms)
--   ".delayed.jobs"                hash of job id -> redis message id of a delayed
--                                  message, so that the job can be cancelled
--   ".wake"                        list with at most one token; idle consumers
--                                  block on it (BLPOP) instead of polling, and
--                                  fetch only when woken (or every 2 s)

local namespace = KEYS[1]
local queue_name = ARGV[1]
local idempotency_ttl = tonumber(ARGV[2])
local delay_ms = tonumber(ARGV[3])
local blob = ARGV[4]
local events_key = ARGV[5]
local base = namespace .. ":" .. queue_name
local find, sub, unpack_header, call = string.find, string.sub, struct.unpack, redis.call

-- Redis's clock orders all due times, so clock skew between hosts does not
-- move a job earlier or later. Ready messages need no clock reading.
local now_ms = 0
if delay_ms > 0 then
    local time = call("time")
    now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Writes are collected and sent in chunks: one redis.call per message and
-- key costs more than the write itself.
local CHUNK = 500
local function call_in_chunks(command, key, values)
    for first = 1, #values, CHUNK do
        call(command, key, unpack(values, first, math.min(first + CHUNK - 1, #values)))
    end
end

-- Each record event is its message between a shared head and a closing brace.
local event_head = nil
if events_key then
    event_head = '{"kind":"sent","ts":' .. ARGV[6] .. ',"eta":' .. ARGV[7] .. ',"message":'
end
local events = {}

local duplicates = {}    -- position, existing job id, ...
local bodies = {}        -- redis message id, encoded message, ...
local due = {}           -- due time, redis message id, ...
local delayed_jobs = {}  -- job id, redis message id, ...
local high, normal, low = {}, {}, {}
local index = 0
local pos = 1
local size = #blob
while pos <= size do
    -- struct.unpack returns the four lengths and the position after the header.
    local id_length, job_length, key_length, data_length, id_start = unpack_header(">IIII", blob, pos)
    local job_start = id_start + id_length
    local key_start = job_start + job_length
    local data_start = key_start + key_length
    pos = data_start + data_length
    local redis_message_id = sub(blob, id_start, job_start - 1)
    local job_id = sub(blob, job_start, key_start - 1)
    index = index + 1

    local existing = nil
    if data_start > key_start then
        local key = namespace .. ":idem:" .. sub(blob, key_start, data_start - 1)
        if not call("set", key, job_id, "NX", "EX", idempotency_ttl) then
            existing = call("get", key)
        end
    end

    if existing then
        duplicates[#duplicates + 1] = index
        duplicates[#duplicates + 1] = existing
    else
        local data = sub(blob, data_start, pos - 1)
        bodies[#bodies + 1] = redis_message_id
        bodies[#bodies + 1] = data
        if event_head then
            events[#events + 1] = event_head .. data .. "}"
        end
        if delay_ms > 0 then
            due[#due + 1] = now_ms + delay_ms
            due[#due + 1] = redis_message_id
            delayed_jobs[#delayed_jobs + 1] = job_id
            delayed_jobs[#delayed_jobs + 1] = redis_message_id
        else
            -- The level is the id's prefix up to the first ":", and normal when unknown.
            local colon = find(redis_message_id, ":", 1, true)
            local level = colon and sub(redis_message_id, 1, colon - 1)
            local list = (level == "high" and high) or (level == "low" and low) or normal
            list[#list + 1] = redis_message_id
        end
    end
end

call_in_chunks("hset", base .. ".msgs", bodies)
if #due > 0 then
    call_in_chunks("zadd", base .. ".delayed", due)
    call_in_chunks("hset", base .. ".delayed.jobs", delayed_jobs)
end
if #high > 0 then
    call_in_chunks("rpush", base .. ".high", high)
end
if #normal > 0 then
    call_in_chunks("rpush", base, normal)
end
if #low > 0 then
    call_in_chunks("rpush", base .. ".low", low)
end

if #events > 0 then
    call_in_chunks("rpush", events_key, events)
    call("hincrby", ARGV[8], ARGV[9], #events)
end

-- One token is enough: the consumer that takes it passes it on while ready
-- messages remain (see fetch.lua). A delayed message wakes a consumer too, so
-- that its fetch learns when the message is due.
local wake = base .. ".wake"
if (#high + #normal + #low > 0 or #due > 0) and call("llen", wake) == 0 then
    call("rpush", wake, "1")
end
return duplicates
