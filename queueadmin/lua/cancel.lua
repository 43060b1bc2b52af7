-- Cancel a delayed job that has not become due yet.
--
-- KEYS[1]: the broker namespace
-- ARGV[1]: the queue name
-- ARGV[2]: the job id
--
-- Returns 1 when the job was removed and 0 when it was not waiting (already
-- moved to its queue, running, finished or unknown). The fetch script moves due
-- jobs in the same atomic way, so a job is either cancelled or run, never both.

local namespace = KEYS[1]
local base = namespace .. ":" .. ARGV[1]
local job_id = ARGV[2]

local redis_message_id = redis.call("hget", base .. ".delayed.jobs", job_id)
if not redis_message_id then
    return 0
end
redis.call("hdel", base .. ".delayed.jobs", job_id)
if redis.call("zrem", base .. ".delayed", redis_message_id) == 0 then
    return 0
end
redis.call("hdel", base .. ".msgs", redis_message_id)
return 1
