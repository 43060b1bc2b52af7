-- Settle one fetched message: push the process's buffered job events, run the
-- commands that middleware deferred until the settlement, then acknowledge
-- the message or move it to the dead letters, all in one call. The keys and
-- their meaning are those of Dramatiq's Redis broker, so its dead-worker
-- recovery and dead-letter expiry keep working.
--
-- KEYS[1]: the broker namespace
-- ARGV[1]: "ack" or "nack"
-- ARGV[2]: the time in milliseconds, the worker's heartbeat
-- ARGV[3]: the queue name
-- ARGV[4]: the worker (broker) id
-- ARGV[5]: the redis message id
-- ARGV[6]: the job events list
-- ARGV[7]: the number of events, then the events
-- then the deferred commands, each its name followed by its arguments:
--   "del" key | "setex" key value seconds | "delifeq" key value
--
-- The event push and the deferred commands run with pcall: one that fails (a
-- key of the wrong type) must not leave the message unsettled, which would run
-- the job again. The script returns the number of events pushed, the push's
-- error message ("" when all were pushed), then the error messages of the
-- commands that failed.

local namespace = KEYS[1]
local command = ARGV[1]
local timestamp = ARGV[2]
local queue_name = ARGV[3]
local worker_id = ARGV[4]
local message_id = ARGV[5]
local events_key = ARGV[6]
local event_count = tonumber(ARGV[7])

-- The deferred commands are read first, so that a malformed call changes nothing.
local first_command = 8 + event_count
local arity = { del = 1, setex = 3, delifeq = 2 }
local commands = {}
local position = first_command
while position <= #ARGV do
    local name = ARGV[position]
    local count = arity[name]
    if count == nil then
        return redis.error_reply("unknown deferred command " .. tostring(name))
    end
    commands[#commands + 1] = { name, unpack(ARGV, position + 1, position + count) }
    position = position + 1 + count
end

local function failure(result)
    if type(result) == "table" and result.err then
        return result.err
    end
    return nil
end

-- Lua's unpack has a limit on the number of values, and the event buffer can
-- hold more after Redis was unreachable for a while. The push stops at the
-- first chunk that fails, and the caller keeps the events from there on.
local PUSH_CHUNK = 1000
local pushed = 0
local push_error = ""
while 8 + pushed < first_command do
    local chunk_start = 8 + pushed
    local chunk_end = math.min(chunk_start + PUSH_CHUNK, first_command) - 1
    local err = failure(redis.pcall("rpush", events_key, unpack(ARGV, chunk_start, chunk_end)))
    if err then
        push_error = err
        break
    end
    pushed = pushed + chunk_end - chunk_start + 1
end

local errors = { pushed, push_error }
local function run(...)
    local err = failure(redis.pcall(...))
    if err then
        errors[#errors + 1] = err
    end
end

for _, deferred in ipairs(commands) do
    local name, key = deferred[1], deferred[2]
    if name == "del" then
        run("del", key)
    elseif name == "setex" then
        run("set", key, deferred[3], "EX", deferred[4])
    elseif redis.pcall("get", key) == deferred[3] then
        run("del", key)
    end
end

redis.call("zadd", namespace .. ":__heartbeats__", timestamp, worker_id)

-- A delay queue's dead letters go to its canonical queue, as in Dramatiq.
local canonical_name = queue_name
if string.sub(queue_name, -3) == ".DQ" then
    canonical_name = string.sub(queue_name, 1, -4)
end
local acks = namespace .. ":__acks__." .. worker_id .. "." .. queue_name
local messages = namespace .. ":" .. queue_name .. ".msgs"

if redis.call("srem", acks, message_id) > 0 then
    if command == "ack" then
        redis.call("hdel", messages, message_id)
    elseif command == "nack" then
        local data = redis.call("hget", messages, message_id)
        if data then
            local dead_letters = namespace .. ":" .. canonical_name .. ".XQ"
            redis.call("zadd", dead_letters, timestamp, message_id)
            redis.call("hset", dead_letters .. ".msgs", message_id, data)
            redis.call("hdel", messages, message_id)
        end
    end
end

return errors
