-- rotate.lua: keep the newest backups and delete the rest, by count and by calendar
-- (grandfather-father-son: one per hour, day, week, month, year), as restic's `forget` does.
-- See docs/plugins.md.
--
--   local rotate = require "rotate"
--   local r = rotate.prune("/var/backups/db-*.sql.gz", { keep_last = 3, keep_daily = 7, keep_weekly = 4, keep_monthly = 12 })
--   log.info(#r.deleted .. " old backups deleted")
--
-- Why not `find /var/backups -mtime +7 -delete`: when the backups stop being made, that line
-- goes on deleting until nothing is left. rotate never deletes the newest match, refuses a
-- policy that keeps nothing, and can say what it would do (dry_run) before doing it.

local files = require "files"

local rotate = {
  name = "rotate",
  version = "1.0.0",
  description = "Backup retention: keep the last N and one per hour/day/week/month/year, delete the rest",
}

local format = string.format

-- Calendar buckets (local time): two backups in the same bucket count once.
local BUCKETS = {
  { key = "keep_hourly", reason = "hourly", fmt = "%Y-%m-%d %H" },
  { key = "keep_daily", reason = "daily", fmt = "%Y-%m-%d" },
  { key = "keep_weekly", reason = "weekly", fmt = "%G-W%V" },   -- ISO weeks, Monday first
  { key = "keep_monthly", reason = "monthly", fmt = "%Y-%m" },
  { key = "keep_yearly", reason = "yearly", fmt = "%Y" },
}
local POLICY = { keep_last = true, keep_within = true, dry_run = true, directories = true }
for _, b in ipairs(BUCKETS) do POLICY[b.key] = true end

local UNITS = { ms = 0.001, s = 1, m = 60, h = 3600, d = 86400, w = 604800 }
local function seconds(v)
  if type(v) == "number" then return v end
  if type(v) ~= "string" or v == "" then return nil end
  local total, pos = 0, 1
  while pos <= #v do
    local num, unit, nextpos = v:match("^(%d+%.?%d*)(%a+)()", pos)
    if not num or not UNITS[unit] then return nil end
    total, pos = total + tonumber(num) * UNITS[unit], nextpos
  end
  return total
end

local function check_policy(policy, fname)
  if type(policy) ~= "table" then error(format("rotate.%s: the policy must be a table such as { keep_last = 3 }", fname), 3) end
  local keeps = false
  for k, v in pairs(policy) do
    if not POLICY[k] then
      error(format("rotate.%s: unknown option '%s' (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, dry_run, directories)", fname, tostring(k)), 3)
    end
    if k == "keep_within" then
      local s = seconds(v)
      if not s or s ~= s or s < 0 then error(format("rotate.%s: keep_within must be a duration such as \"30d\"", fname), 3) end
      if s > 0 then keeps = true end  -- "0s" keeps nothing, as keep_last = 0 does
    elseif k:sub(1, 5) == "keep_" then
      if math.type(v) ~= "integer" or v < 0 then error(format("rotate.%s: %s must be an integer >= 0", fname, k), 3) end
      if v > 0 then keeps = true end
    end
  end
  if not keeps then
    error(format("rotate.%s: the policy keeps nothing: give keep_last, keep_daily, ... (refusing to delete every backup)", fname), 3)
  end
end

-- Newest first; equal times by path, so that plans are the same from run to run.
local function newer(a, b)
  if a.mtime ~= b.mtime then return a.mtime > b.mtime end
  return tostring(a.path) > tostring(b.path)
end

--- plan(entries, policy): which entries to keep and which to drop, with no I/O.
-- entries: a list of {path, mtime} (mtime in seconds since the epoch). Returns keep, drop: two
-- lists, newest first; each kept entry gets `reasons` (e.g. {"last", "daily"}). The newest entry
-- is always kept. keep_within counts back from the newest entry, not from now (as restic's
-- forget does): when backups stop being made, the last ones do not age out.
function rotate.plan(entries, policy)
  check_policy(policy, "plan")
  local sorted = {}
  for i, e in ipairs(entries) do
    if type(e) ~= "table" or type(e.mtime) ~= "number" then error(format("rotate.plan: entry %d needs a numeric mtime", i), 2) end
    sorted[i] = e
  end
  table.sort(sorted, newer)
  local within = policy.keep_within and seconds(policy.keep_within)
  local left, last = {}, {}
  for _, b in ipairs(BUCKETS) do left[b.key] = policy[b.key] or 0 end
  local keep, drop = {}, {}
  for i, e in ipairs(sorted) do
    local reasons = {}
    if i == 1 then reasons[#reasons + 1] = "newest" end
    if i <= (policy.keep_last or 0) then reasons[#reasons + 1] = "last" end
    if within and e.mtime >= sorted[1].mtime - within then reasons[#reasons + 1] = "within" end
    for _, b in ipairs(BUCKETS) do
      if left[b.key] > 0 then
        local bucket = os.date(b.fmt, math.floor(e.mtime))
        if bucket ~= last[b.key] then
          last[b.key] = bucket
          left[b.key] = left[b.key] - 1
          reasons[#reasons + 1] = b.reason
        end
      end
    end
    if #reasons > 0 then
      e.reasons = reasons
      keep[#keep + 1] = e
    else
      drop[#drop + 1] = e
    end
  end
  return keep, drop
end

-- "a/b/c" -> "a/b"; nil at the top.
local function parent(path)
  local p = path:match("^(.*)/[^/]*$")
  if p == nil or p == "" then return nil end
  return p
end

-- Whether a folder in `set` holds `path` (at any depth).
local function under(path, set)
  local p = parent(path)
  while p do
    if set[p] then return true end
    p = parent(p)
  end
  return false
end

--- prune(pattern, policy): applies a policy to the files matching a glob (files.glob syntax)
-- by their modification times, and deletes the ones it drops. policy: keep_last, keep_hourly,
-- keep_daily, keep_weekly, keep_monthly, keep_yearly (counts), keep_within (a duration: keep
-- everything within it of the newest match), dry_run (delete nothing), directories (rotate
-- folders too, deleted with rm -rf; by default only files match). When matches nest
-- (directories and a `**` pattern), nothing kept is deleted with a folder: a folder that holds
-- a kept match is kept ("contains_kept"), and so is what a kept folder holds
-- ("in_kept_folder"). Returns {kept = {...}, deleted = {...}, dry_run}: lists of paths,
-- newest first.
function rotate.prune(pattern, policy)
  if type(pattern) ~= "string" or pattern == "" then error("rotate.prune: the first argument must be a glob pattern", 2) end
  check_policy(policy, "prune")
  if pattern:sub(-1) == "/" and not policy.directories then
    error(format("rotate.prune: %q matches folders only: set directories = true to rotate folders", pattern), 2)
  end
  local listed, entries = pcall(files.list, pattern, { type = not policy.directories and "file" or nil })
  if not listed then
    if type(entries) ~= "string" then error(entries, 0) end  -- an engine error (timeout, ...): unchanged
    error("rotate.prune: " .. entries:gsub("^[^:\n]*:%d+: ", ""), 2)  -- a bad pattern, said for prune
  end
  local keep, drop = rotate.plan(entries, policy)
  -- rm -rf of a dropped folder must not take a kept match with it, nor a kept folder lose its contents
  local holds_kept, kept_dirs = {}, {}
  for _, e in ipairs(keep) do
    local p = parent(e.path)
    while p and not holds_kept[p] do holds_kept[p] = true; p = parent(p) end
    if e.type == "dir" then kept_dirs[e.path] = true end
  end
  local doomed = {}
  for _, e in ipairs(drop) do
    if e.type == "dir" and holds_kept[e.path] then
      e.reasons = { "contains_kept" }
      keep[#keep + 1] = e
    elseif under(e.path, kept_dirs) then
      e.reasons = { "in_kept_folder" }
      keep[#keep + 1] = e
    else
      doomed[#doomed + 1] = e
    end
  end
  table.sort(keep, newer)
  local result = { kept = setmetatable({}, json.array_mt), deleted = setmetatable({}, json.array_mt),
                   dry_run = policy.dry_run and true or false }
  for i, e in ipairs(keep) do result.kept[i] = e.path end
  local removed = {}  -- folders deleted with rm -rf: what they held is gone with them
  for _, e in ipairs(doomed) do
    if not policy.dry_run and not under(e.path, removed) then
      if e.type == "dir" then
        exec({ "rm", "-rf", "--", e.path })
        removed[e.path] = true
      else
        local ok, err = os.remove(e.path)
        if not ok then error("rotate.prune: " .. tostring(err), 2) end
      end
    end
    result.deleted[#result.deleted + 1] = e.path
  end
  if #result.deleted > 0 then
    log.info(format("rotate: %s %d of %d (%s)", policy.dry_run and "would delete" or "deleted",
      #result.deleted, #entries, pattern))
  end
  return result
end

return rotate
