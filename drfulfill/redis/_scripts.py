"""The Lua scripts the coordinator runs on the Redis server, each atomic there.

Time comes from Redis ``TIME`` (microseconds), so the hosts' clocks never matter. Numbers
passed to ``redis.call`` keep every integer below 2**53 exact (microseconds since 1970 are
about 2**51), so no ``tostring`` is used. Scripts that call ``TIME`` and then write need
Redis >= 5 (effects replication by default).
"""

# The rate limit is GCRA: ``tat`` is the theoretical arrival time of the next free slot.
# A request takes slot ``s = max(tat, now)`` and may send at ``s - tolerance`` (the burst);
# ``tat`` moves to ``s + interval``. A slot is reserved only when it is within the
# caller's max_wait. A waiter that gives its slot back before its send time either rolls
# ``tat`` back (it was the last reservation) or leaves a "hole" in a sorted set that the
# next request takes instead of a new slot, sending at exactly the time the slot allowed:
# the sends are always a subset of the GCRA schedule, so giving back never exceeds the rate.
#
# The reply also carries the current pause (its end time, '' for none): a pause set
# before the reservation already moved the schedule; a different one seen after the
# wait was set meanwhile and holds the slot back. And how long that pause has left, so
# the process knows the fleet's pause without asking Redis again.
#
# KEYS: tat, pause, holes.  ARGV: interval_us, tolerance_us, max_wait_us (-1: no limit).
# Returns {1, wait_us, slot_us, pause, pause_left_us} when reserved,
# {0, wait_us, 0, pause, pause_left_us} when the slot is too far.
ACQUIRE_SLOT = """
local pause = redis.call('GET', KEYS[2]) or ''
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local pause_left = math.max(0, tonumber(pause ~= '' and pause or '0') - now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (now + tolerance))
local hole = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
if hole then
    local slot = tonumber(hole)
    local wait = slot - tolerance - now
    if max_wait >= 0 and wait > max_wait then
        return {0, wait, 0, pause, pause_left}
    end
    redis.call('ZREM', KEYS[3], hole)
    return {1, wait, slot, pause, pause_left}
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(tat, now)
local wait = math.max(0, slot - tolerance - now)
if max_wait >= 0 and wait > max_wait then
    return {0, wait, 0, pause, pause_left}
end
local next_tat = slot + interval
redis.call('SET', KEYS[1], next_tat, 'PX', math.floor((next_tat - now) / 1000) + 1)
return {1, wait, slot, pause, pause_left}
"""

# The bulk lane: a bulk request never reserves ahead. It takes a slot only when it may send
# at once with the smaller bulk tolerance (the headroom above it is left to interactive
# requests), and otherwise learns how long until it may ask again. So bulk traffic never
# moves ``tat`` more than one interval past ``now + bulk_tolerance``, and an interactive
# request (whole tolerance) always finds its slot within about one interval. Holes are
# left to interactive requests. A pause holds bulk back as it does the schedule.
#
# KEYS: tat, pause.  ARGV: interval_us, bulk_tolerance_us.
# Returns {1, 0, pause_left_us} when taken, {0, wait_us, pause_left_us} when not due yet.
ACQUIRE_BULK_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local paused_until = tonumber(redis.call('GET', KEYS[2]) or '0')
local pause_left = math.max(0, paused_until - now)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local due = math.max(tat - tolerance, paused_until)
if due > now then
    return {0, due - now, pause_left}
end
local next_tat = math.max(tat, now) + interval
redis.call('SET', KEYS[1], next_tat, 'PX', math.floor((next_tat - now) / 1000) + 1)
return {1, 0, pause_left}
"""

# A slot whose send time has come, or falls inside a pause set since it was reserved, is
# not given back (it would let a request through early).
# KEYS: tat, holes, pause.  ARGV: slot_us, interval_us, tolerance_us.  Returns 1 if given back.
RETURN_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local paused_until = tonumber(redis.call('GET', KEYS[3]) or '0')
if slot - tolerance <= math.max(now, paused_until) then
    return 0
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat == slot + interval then
    redis.call('SET', KEYS[1], slot, 'PX', math.floor((slot - now) / 1000) + 1)
else
    redis.call('ZADD', KEYS[2], slot, slot)
    redis.call('PEXPIRE', KEYS[2], math.floor((tat - now) / 1000) + 1)
end
return 1
"""

# A pause keeps the longer of the current and the new one, and moves the schedule past
# its end (dropping the burst allowance and any hole inside it), as the local limiter does.
# KEYS: pause, tat, holes.  ARGV: pause_ms, tolerance_us.
# Returns the milliseconds the fleet's pause has left afterwards.
PAUSE = """
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left >= ms then
    return left
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tolerance = tonumber(ARGV[2])
redis.call('SET', KEYS[1], now + ms * 1000, 'PX', ms)
local after = now + ms * 1000 + tolerance
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < after then
    redis.call('SET', KEYS[2], after, 'PX', ms + math.floor(tolerance / 1000) + 1)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. after)
return ms
"""

# The pause as a waiter sees it after its sleep: its end time ('' for none) and the
# milliseconds it has left (negative for none).  KEYS: pause.
PAUSE_STATE = """
return {redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1])}
"""

# Claims. Per safe-create key: ``claim`` holds the holder's random token, with the lease as
# TTL; ``started`` holds a Redis time (microseconds) from which a send of the key may land:
# written by a fence (the send may be in flight until then) and by a release in doubt, kept
# for ``done_ms``, and deleted only once the key is done, or by its holder when nothing of
# its sends can land; ``done`` holds the created fulfillment's id. ``memory`` (one per API
# key) says the store's records are whole: written once the fleet's keys were loaded from
# Digital River; a store without it (new, flushed, replaced) cannot tell a new key from a
# forgotten one. Times travel as ages (Redis now minus the time), never as host clocks.
#
# KEYS: claim, started, done, memory.  ARGV: token, lease_ms, need_memory ('1' or '').
# Returns {'unearned', ''} | {'done', id} | {'claimed', '', earned} |
# {'doubt', age_us, earned} | {'held', lease_left_ms}; earned is 1 when memory is there.
ACQUIRE_CLAIM = """
local earned = redis.call('EXISTS', KEYS[4])
if earned == 0 and ARGV[3] == '1' then
    return {'unearned', ''}
end
local done = redis.call('GET', KEYS[3])
if done then
    return {'done', done}
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    local since = redis.call('GET', KEYS[2])
    if since then
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        -- A marker that is not a time (written by an older drfulfill): in doubt from now.
        local age = now - (tonumber(since) or now)
        return {'doubt', tostring(age), earned}
    end
    return {'claimed', '', earned}
end
return {'held', tostring(redis.call('PTTL', KEYS[1]))}
"""

# ``started`` moves only forward: the latest time a send may land from wins.
# KEYS: started.  ARGV[n]: the age in microseconds (negative: in the future); ARGV[n+1]: ttl ms.
_KEEP_LATEST = """
local function keep_latest(started_key, age_us, ttl_ms)
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local since = now - tonumber(age_us)
    local current = tonumber(redis.call('GET', started_key) or '')
    if current == nil or current < since then
        redis.call('SET', started_key, string.format('%d', since), 'PX', ttl_ms)
    end
end
"""

# Just before a send: only the holder may send. The claim is made to outlast the send (the
# attempt's timeout, then a lease for the holder to record its outcome), and ``started``
# says the send may land from the end of that timeout on.
# KEYS: claim, started.  ARGV: token, hold_ms, -send_us (an age: the send's end is ahead),
# started_ms.  Returns 1 when the holder may send, 0 when it does not hold the claim.
FENCE_CLAIM = (
    _KEEP_LATEST
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
keep_latest(KEYS[2], ARGV[3], ARGV[4])
return 1
"""
)

# Every third of the lease: extend the holder's claim (never shortening what a fence set).
# A claim that is gone while nobody else holds it or recorded it done (its lease lapsed
# during a stall, or Redis lost its data) is taken back, with what the holder knows may
# land (``age_us``, '' for nothing), so no one else can claim the key while its send may
# still be in flight.
# KEYS: claim, started, done.  ARGV: token, lease_ms, age_us, started_ms.
# Returns 1 (held), 2 (taken back) or 0 (lost: another process has it, or it is done).
RENEW_CLAIM = (
    _KEEP_LATEST
    + """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
    if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
    end
    return 1
end
if holder == false and redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    if ARGV[3] ~= '' then
        keep_latest(KEYS[2], ARGV[3], ARGV[4])
    end
    return 2
end
return 0
"""
)

# The holder (the token in ``claim``), or anyone while nobody holds the claim, records what
# it knows: the fulfillment id (done), or that a send may land from ``age_us`` ago (doubt).
# A clean release (neither) is the holder's only: it deletes ``started`` too, since no send
# of the key can land. Anyone else's release changes nothing.
# KEYS: claim, started, done.  ARGV: token, done_id ('' for none), age_us ('' for none),
# done_ms.  Returns 1 when something was recorded or released, else 0.
RELEASE_CLAIM = (
    _KEEP_LATEST
    + """
local holder = redis.call('GET', KEYS[1])
local mine = holder == ARGV[1]
if not mine and holder ~= false then
    return 0
end
if ARGV[2] ~= '' then
    redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
    redis.call('DEL', KEYS[2])
elseif ARGV[3] ~= '' then
    keep_latest(KEYS[2], ARGV[3], ARGV[4])
elseif mine then
    redis.call('DEL', KEYS[2])
else
    return 0
end
if mine then
    redis.call('DEL', KEYS[1])
end
return 1
"""
)

# Loading the fleet's memory: done records for keys of fulfillments found at Digital River
# (an existing record is kept).  KEYS: done keys.  ARGV: their ids, then done_ms.
# Returns how many records were new.
RECORD_DONE = """
local ttl = ARGV[#ARGV]
local new = 0
for i, key in ipairs(KEYS) do
    if redis.call('SET', key, ARGV[i], 'PX', ttl, 'NX') then
        new = new + 1
    end
end
return new
"""

# A memory load keeps its loading key while it runs: only its own (a load that stalled past
# its lease must not take over the key of the load that took over from it).
# KEYS: loading.  ARGV: the load's token, lease_ms.  Returns 1 when kept, else 0.
KEEP_LOADING = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# The end of a memory load: the marker is written only while the load still holds the
# loading key. Redis losing its data during the load (a flush, a restart) takes the loading
# key with the records already written, and a marker written over them would vouch for keys
# the fleet created: the load starts again instead.
# KEYS: loading, memory.  ARGV: the load's token.  Returns 1 when written, else 0.
MARK_MEMORY = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call('SET', KEYS[2], '1')
return 1
"""
