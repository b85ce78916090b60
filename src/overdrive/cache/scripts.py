"""The Lua scripts of the L2 tier, kept as named constants (run with EVALSHA).

Every key a script touches shares one hash tag, `{namespace:group}`, so each script
runs on one Redis Cluster node. Tag keys are derived inside the scripts from a prefix
carrying that same hash tag.

A tag key holds "S" (its current version) or "S,H" after a soft invalidation (H: the
floor above which older snapshots are stale rather than dead). Versions are
microseconds from Redis TIME, kept above the previous value.
"""

from __future__ import annotations

# Shared helpers, pasted at the top of each script (Redis scripts cannot import).
_COMMON = """
local function parse(raw)
  if not raw then return nil, nil end
  local comma = string.find(raw, ',', 1, true)
  if comma then
    return tonumber(string.sub(raw, 1, comma - 1)), tonumber(string.sub(raw, comma + 1))
  end
  return tonumber(raw), nil
end

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function fmt(n) return string.format('%.0f', n) end

-- 1 valid, 2 soft-stale, 0 dead, for one (tag, version) of a snapshot
local function tag_status(prefix, name, version)
  local s, h = parse(redis.call('GET', prefix .. name))
  if s == nil then return 0 end
  if s == version then return 1 end
  if h ~= nil and version >= h and version < s then return 2 end
  return 0
end

-- current version of a tag, created when missing (a snapshot before a loader runs)
local function current(prefix, name, tag_ttl)
  local key = prefix .. name
  local s = parse(redis.call('GET', key))
  if s == nil then
    s = now_us()
    redis.call('SET', key, fmt(s), 'PX', tag_ttl)
  end
  return s
end
"""

# KEYS: entry, lease, waiters flag
# ARGV: tag prefix, lease token ('' = none), lease ttl ms, tag ttl ms, now (s), snapshot tags...
# -> {raw|false, status, lease state (0 none, 1 taken, 2 held by another), versions...}
READ = (
    _COMMON
    + """
local prefix = ARGV[1]
local raw = redis.call('GET', KEYS[1])
local status = 0
local fresh = false
if raw then
  local _, meta = cmsgpack.unpack_one(raw)
  local tags = meta[5]
  status = 1
  for i = 1, #tags, 2 do
    local s = tag_status(prefix, tags[i], tags[i + 1])
    if s == 0 then status = 0; break end
    if s == 2 then status = 2 end
  end
  if status == 0 then raw = false end
  fresh = (status == 1 and meta[2] > tonumber(ARGV[5]))
end
local lease = 0
if ARGV[2] ~= '' and not fresh then
  if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
    lease = 1
  else
    lease = 2
    redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
  end
end
local out = {raw, status, lease}
for i = 6, #ARGV do
  out[#out + 1] = fmt(current(prefix, ARGV[i], ARGV[4]))
end
return out
"""
)

# KEYS: entry, lease, waiters flag
# ARGV: tag prefix, entry ttl ms, lease token ('' = none), tag ttl ms, channel, fill message,
#       mode, then for mode 'check': raw, (tag, version)...; for mode 'stamp': created,
#       fresh, stale, codec, payload, tags...
# -> {stored (0|1), versions... (mode 'stamp')}
WRITE = (
    _COMMON
    + """
local prefix = ARGV[1]
local stored = 1
local out = {}
if ARGV[7] == 'check' then
  for i = 9, #ARGV, 2 do
    if tag_status(prefix, ARGV[i], tonumber(ARGV[i + 1])) ~= 1 then stored = 0; break end
  end
  if stored == 1 then redis.call('SET', KEYS[1], ARGV[8], 'PX', ARGV[2]) end
else
  local pairs = {}
  for i = 13, #ARGV do
    local v = current(prefix, ARGV[i], ARGV[4])
    pairs[#pairs + 1] = ARGV[i]
    pairs[#pairs + 1] = v
    out[#out + 1] = fmt(v)
  end
  local header = cmsgpack.pack({tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]),
                                tonumber(ARGV[11]), pairs})
  redis.call('SET', KEYS[1], header .. ARGV[12], 'PX', ARGV[2])
end
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
  if redis.call('DEL', KEYS[3]) == 1 then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
end
table.insert(out, 1, stored)
return out
"""
)

# KEYS: lease, waiters flag.  ARGV: token, channel, fill message.  -> 1 if released
RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('DEL', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
"""

# KEYS: any key of the group (routing only).  ARGV: tag prefix, soft ('1'|'0'), tag ttl ms,
# tags... -> {version, floor ('' when none)} per tag
BUMP = (
    _COMMON
    + """
local prefix = ARGV[1]
local now = now_us()
local out = {}
for i = 4, #ARGV do
  local key = prefix .. ARGV[i]
  local s, h = parse(redis.call('GET', key))
  local new = now
  if s ~= nil and s >= now then new = s + 1 end
  local value = fmt(new)
  local floor = ''
  if ARGV[2] == '1' and s ~= nil then
    floor = fmt(h or s)
    value = value .. ',' .. floor
  end
  redis.call('SET', key, value, 'PX', ARGV[3])
  out[#out + 1] = fmt(new)
  out[#out + 1] = floor
end
return out
"""
)
