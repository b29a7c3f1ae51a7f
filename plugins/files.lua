-- files.lua: file helpers for flows: glob, listing with sizes and times, atomic writes,
-- checksums, and waiting for a file to appear. See docs/plugins.md.
--
--   local files = require "files"
--   for _, path in ipairs(files.glob("/var/backups/*.tar.gz")) do ... end
--   files.write("/srv/state/report.json", json.encode(report))   -- readers never see half a file
--   local sum = files.checksum("/srv/dl/image.iso")              -- sha256, hex
--   files.wait_for("/srv/incoming/export.csv", { timeout = "2h", stable = "10s" })
--
-- Relative paths are relative to the directory tide runs in (the daemon's may be anything):
-- give absolute paths in flows the daemon runs. Commands used: find, chmod, sync, mkdir and
-- the coreutils checksum tools (sha256sum, ...), run without a shell, and one fixed sh script
-- (write's temporary file); paths are always arguments of their own, never command text.

local files = {
  name = "files",
  version = "1.0.0",
  description = "glob, list, atomic write, checksum (sha256 and others), wait for a file",
}

local format, concat, sort = string.format, table.concat, table.sort

local function argerror(n, fname, msg, level)
  error(format("bad argument #%d to 'files.%s' (%s)", n, fname, msg), level or 3)
end

-- level: of the error, counted from expect_string; the default suits a files.X function's own check.
local function expect_string(v, n, fname, level)
  if type(v) ~= "string" or v == "" then
    argerror(n, fname, format("non-empty string expected, got %s", type(v) == "string" and "an empty string" or type(v)), level or 4)
  end
end

---------------------------------------------------------------- durations

local UNITS = { ms = 0.001, s = 1, m = 60, h = 3600, d = 86400 }

-- Seconds of a duration as flows write them (number, "250ms", "1m30s"), or nil.
local function seconds(v)
  if type(v) == "number" then return v >= 0 and v or nil end
  if type(v) ~= "string" or v == "" then return nil end
  local total, pos = 0, 1
  while pos <= #v do
    local num, unit, nextpos = v:match("^(%d+%.?%d*)(%a+)()", pos)
    if not num or not UNITS[unit] then return nil end
    total, pos = total + tonumber(num) * UNITS[unit], nextpos
  end
  return total
end

---------------------------------------------------------------- globbing

-- A Lua pattern for one segment of a glob: * ? [abc] [!abc] [a-z]; or nil and why not.
-- As in the shell, a ']' first in a set is one of its characters: []a] and [!]a].
local function segment_pattern(glob)
  local out, i = { "^" }, 1
  while i <= #glob do
    local c = glob:sub(i, i)
    if c == "*" then
      out[#out + 1] = ".*"
    elseif c == "?" then
      out[#out + 1] = "."
    elseif c == "[" then
      local first = i + 1
      local negate = glob:sub(first, first) == "!" or glob:sub(first, first) == "^"
      if negate then first = first + 1 end
      local close = glob:find("]", first + 1, true)
      if not close then
        return nil, format("unclosed '[' in %q: a set is [abc], [!abc] or [a-z]; [[] matches a '['", glob)
      end
      local set = glob:sub(first, close - 1):gsub("[%%%]%^]", "%%%0")
      out[#out + 1] = "[" .. (negate and "^" or "") .. set .. "]"
      i = close
    else
      out[#out + 1] = c:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
    end
    i = i + 1
  end
  out[#out + 1] = "$"
  local lua = concat(out)
  if not pcall(string.find, "", lua) then return nil, format("%q is not a pattern files can match", glob) end
  return lua
end

local function has_magic(s) return s:find("[*?[]") ~= nil end

local function split(path)
  local out = {}
  for part in path:gmatch("[^/]+") do out[#out + 1] = part end
  return out
end

-- Whether path segments names[j..] match pattern segments pats[i..] ("**" spans folders).
local function match(pats, i, names, j, hidden)
  if i > #pats then return j > #names end
  local p = pats[i]
  if p.any then
    for k = j, #names + 1 do
      if match(pats, i + 1, names, k, hidden) then return true end
      if k <= #names and not hidden and names[k]:sub(1, 1) == "." then return false end
    end
    return false
  end
  local name = names[j]
  if name == nil then return false end
  if name:sub(1, 1) == "." and not hidden and not p.dot then return false end
  if not name:find(p.lua) then return false end
  return match(pats, i + 1, names, j + 1, hidden)
end

local function temp_file()
  local path = os.tmpname()
  return setmetatable({ path = path }, { __close = function(t) os.remove(t.path) end })
end

local TYPES = { f = "file", d = "dir", l = "link" }
local LIST_OPTS = { type = true, hidden = true }

-- list and glob (fname): raises for the caller of files.list or files.glob (level 4).
local function listing(pattern, opts, fname)
  expect_string(pattern, 1, fname, 5)
  opts = opts or {}
  if type(opts) ~= "table" then argerror(2, fname, "table expected, got " .. type(opts), 4) end
  for k in pairs(opts) do
    if not LIST_OPTS[k] then argerror(2, fname, format("unknown option '%s' (options: type, hidden)", tostring(k)), 4) end
  end
  if opts.type ~= nil and opts.type ~= "file" and opts.type ~= "dir" then
    argerror(2, fname, "option 'type' must be \"file\" or \"dir\"", 4)
  end
  local absolute = pattern:sub(1, 1) == "/"
  local dirs_only = pattern:sub(-1) == "/"  -- "*/": folders only, as in the shell
  if dirs_only and opts.type == "file" then
    argerror(2, fname, format("%q ends in '/', so it matches folders only, and option 'type' is \"file\"", pattern), 4)
  end
  local parts = split(pattern)
  local fixed, rest = {}, {}
  for _, part in ipairs(parts) do
    if #rest == 0 and not has_magic(part) then fixed[#fixed + 1] = part else rest[#rest + 1] = part end
  end
  -- A relative root starts with "./", so that find never takes it for an option ("-dash/*")
  -- or an expression ("!x", "("); the "./" is taken off the paths again below.
  local root
  if absolute then root = "/" .. concat(fixed, "/")
  elseif #fixed == 0 then root = "."
  else root = "./" .. concat(fixed, "/") end
  local args = { "find", "-H", root, "-mindepth", "1" }
  if #rest == 0 then
    args = { "find", "-H", root, "-maxdepth", "0" }  -- no wildcard: the path itself, if it exists
  else
    local deep = false
    local pats = {}
    for i, part in ipairs(rest) do
      if part == "**" then deep = true; pats[i] = { any = true }
      else
        local lua, why = segment_pattern(part)
        if not lua then argerror(1, fname, why, 4) end
        pats[i] = { lua = lua, dot = part:sub(1, 1) == "." }
      end
    end
    rest = pats
    if not deep then
      args[#args + 1] = "-maxdepth"
      args[#args + 1] = tostring(#pats)
    end
  end
  if opts.type then
    args[#args + 1] = "-type"
    args[#args + 1] = opts.type == "file" and "f" or "d"
  elseif dirs_only then
    args[#args + 1] = "-xtype"  -- folders and links to folders, as the shell's */ gives
    args[#args + 1] = "d"
  end
  local tmp <close> = temp_file()
  args[#args + 1] = "-fprintf"
  args[#args + 1] = tmp.path
  args[#args + 1] = "%T@\\t%s\\t%y\\t%p\\0"  -- escapes for find, not for Lua
  exec(args, { check = false })  -- a missing root or an unreadable folder is no match, not an error
  local f = io.open(tmp.path, "rb")
  local data = f and f:read("a") or ""
  if f then f:close() end
  local out = {}
  local prefix = root == "/" and "/" or root .. "/"
  for record in data:gmatch("([^%z]+)%z") do
    local mtime, size, kind, path = record:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if path then
      local ok = #rest == 0
      if not ok then
        ok = match(rest, 1, split(path:sub(#prefix + 1)), 1, opts.hidden)
      end
      if ok then
        if not absolute then path = path:gsub("^%./", "") end
        out[#out + 1] = { path = path, type = TYPES[kind] or "other", size = tonumber(size), mtime = tonumber(mtime) }
      end
    end
  end
  sort(out, function(a, b) return a.path < b.path end)
  return setmetatable(out, json.array_mt)  -- [] in JSON even when empty
end

--- list(pattern [, opts]): the paths matching a glob, each as {path, type, size, mtime},
-- sorted by path. `*`, `?` and `[...]` match within one folder level, `**` any number of levels.
-- Names starting with "." only match a pattern that starts with "." unless opts.hidden.
-- opts.type = "file" or "dir" keeps only those; a pattern that ends in "/" matches folders
-- (and links to folders) only. A malformed pattern ("[!]x") is an argument error.
function files.list(pattern, opts)
  local out = listing(pattern, opts, "list")
  return out
end

--- glob(pattern [, opts]): the paths matching a glob pattern, sorted (see list).
function files.glob(pattern, opts)
  local out = setmetatable({}, json.array_mt)
  for i, e in ipairs(listing(pattern, opts, "glob")) do out[i] = e.path end
  return out
end

---------------------------------------------------------------- reading and writing

local EACCES = 13

--- exists(path): true when something is there (a file, a folder, ...), readable or not.
function files.exists(path)
  expect_string(path, 1, "exists")
  local f, _, code = io.open(path, "rb")
  if f then f:close() return true end
  return code == EACCES  -- there, but not ours to read (write still copies its mode)
end

-- What is at path: "file" and its size, "dir", or nil (nothing, or nothing we may read).
-- A folder opens as a file on Linux, with a nonsense size; reading it tells it apart.
local function probe(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local _, err = f:read(0)
  if err then f:close() return "dir" end  -- EISDIR
  local size = f:seek("end")
  f:close()
  return "file", size
end

--- size(path): the size of a file in bytes, or nil when there is none; raises for a folder.
function files.size(path)
  expect_string(path, 1, "size")
  local kind, size = probe(path)
  if kind == "dir" then error(format("files.size: %s is a folder, not a file", path), 2) end
  return size
end

--- read(path): a file's contents; raises when it cannot be read.
function files.read(path)
  expect_string(path, 1, "read")
  local f, err = io.open(path, "rb")
  if not f then error("files.read: " .. err, 2) end
  local data = f:read("a")
  f:close()
  return data
end

local WRITE_OPTS = { mode = true, mkdir = true, sync = true }

--- write(path, content [, opts]): replaces a file atomically: the content goes to a hidden
-- temporary file in the same folder, which is flushed to disk and renamed over `path`, so a
-- reader (or a crash) sees the old file or the new one, never half of one.
-- opts: mode ("0600"; default: the old file's mode, else the umask's; set before any content
-- is written), mkdir (create the folder), sync (default true: fsync the file and the folder;
-- false skips both).
function files.write(path, content, opts)
  expect_string(path, 1, "write")
  if type(content) == "number" then content = tostring(content) end
  if type(content) ~= "string" then argerror(2, "write", "string expected, got " .. type(content)) end
  opts = opts or {}
  for k in pairs(opts) do
    if not WRITE_OPTS[k] then argerror(3, "write", format("unknown option '%s' (options: mode, mkdir, sync)", tostring(k))) end
  end
  if opts.mode ~= nil and (type(opts.mode) ~= "string" or not opts.mode:match("^[0-7][0-7][0-7][0-7]?$")) then
    argerror(3, "write", "option 'mode' must be an octal string such as \"0644\"")
  end
  local dir, base = path:match("^(.*)/([^/]+)$")
  if not dir then dir, base = ".", path end
  if dir == "" then dir = "/" end
  if opts.mkdir then exec({ "mkdir", "-p", "--", dir }) end
  local tmp = format("%s/.%s.tide-%08x%08x", dir, base, math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  local renamed = false
  local cleanup <close> = setmetatable({}, { __close = function() if not renamed then os.remove(tmp) end end })
  -- The mode is set while the file is still empty: a secret written into a file the umask
  -- made world-readable could be read (or an open descriptor kept) before a later chmod.
  -- So: create it empty, private and new (set -C: never through a planted link), give it its
  -- mode, and only then write (opening with "wb" truncates and keeps the mode).
  local mode = opts.mode or (files.exists(path) and "--reference=" .. path) or nil
  if mode then
    local made = exec({ "sh", "-c", 'set -C && umask 077 && : > "$1" && chmod "$2" -- "$1"', "sh", tmp, mode }, { check = false })
    if made.status ~= 0 then
      error(format("files.write: cannot write in %s: %s", dir, (made.stderr:gsub("%s+$", ""))), 2)
    end
  end
  local f, err = io.open(tmp, "wb")
  if not f then error(format("files.write: cannot write in %s: %s", dir, err), 2) end
  local ok, werr = f:write(content)
  local closed, cerr = f:close()
  if not ok or not closed then error(format("files.write: writing %s failed: %s", path, tostring(werr or cerr)), 2) end
  if opts.sync ~= false then exec({ "sync", "--", tmp }) end
  local moved, merr = os.rename(tmp, path)
  if not moved then error("files.write: " .. tostring(merr), 2) end
  renamed = true
  if opts.sync ~= false then exec({ "sync", "--", dir }) end  -- the rename itself reaches the disk
  return { path = path, bytes = #content }
end

---------------------------------------------------------------- checksums

local TOOLS = { sha256 = "sha256sum", sha512 = "sha512sum", sha384 = "sha384sum", sha224 = "sha224sum",
                sha1 = "sha1sum", md5 = "md5sum", b2 = "b2sum" }

local function tool(algo, n, fname)
  algo = algo or "sha256"
  local t = TOOLS[algo]
  if not t then argerror(n, fname, format("unknown algorithm %q (sha256, sha512, sha384, sha224, sha1, md5, b2)", tostring(algo))) end
  return t
end

--- checksum(path [, algo]): the file's digest in lower-case hex; algo "sha256" (default),
-- "sha512", "sha384", "sha224", "sha1", "md5" or "b2". Runs the coreutils tool, so a large file
-- never passes through Lua and the run's other tasks go on meanwhile.
function files.checksum(path, algo)
  expect_string(path, 1, "checksum")
  local r = exec({ tool(algo, 2, "checksum"), "--", path })
  return (r.stdout:match("^\\?(%x+)"))
end

--- checksum_string(data [, algo]): the digest of a string.
function files.checksum_string(data, algo)
  if type(data) ~= "string" then argerror(1, "checksum_string", "string expected, got " .. type(data)) end
  local r = exec({ tool(algo, 2, "checksum_string") }, { stdin = data })
  return (r.stdout:match("^\\?(%x+)"))
end

--- verify(path, expected [, algo]): whether the file's digest is `expected` (hex, any case).
function files.verify(path, expected, algo)
  expect_string(expected, 2, "verify")
  return files.checksum(path, algo) == expected:lower()
end

---------------------------------------------------------------- waiting

local WAIT_OPTS = { timeout = true, interval = true, stable = true, min_size = true }

--- wait_for(path [, opts]): waits until `path` exists (polling, with sleep: the run's other
-- tasks go on, and cancelling the run ends the wait). opts: timeout (default "10m"; then a
-- `timeout` error), interval (default "1s"), stable (a duration the size must stay the same,
-- for files still being written), min_size (bytes, default 0).
-- Returns {path, type = "file", size, waited} (waited in seconds). A folder ends the wait as
-- soon as it is there ({path, type = "dir", waited}); stable and min_size are for files, so
-- with them a folder at `path` is an error.
function files.wait_for(path, opts)
  expect_string(path, 1, "wait_for")
  opts = opts or {}
  for k in pairs(opts) do
    if not WAIT_OPTS[k] then argerror(2, "wait_for", format("unknown option '%s' (options: timeout, interval, stable, min_size)", tostring(k))) end
  end
  local limit = opts.timeout or "10m"
  if not seconds(limit) then argerror(2, "wait_for", "option 'timeout': duration expected") end
  local interval = seconds(opts.interval or "1s")
  if not interval or interval <= 0 then argerror(2, "wait_for", "option 'interval': a duration above 0 expected") end
  local stable = opts.stable and seconds(opts.stable)
  if opts.stable ~= nil and not stable then argerror(2, "wait_for", "option 'stable': duration expected") end
  local min_size = opts.min_size or 0
  if type(min_size) ~= "number" or min_size ~= min_size or min_size < 0 then
    local got = type(min_size) == "string" and format("%q", min_size) or tostring(min_size)
    argerror(2, "wait_for", "option 'min_size': a number of bytes expected, got " .. got)
  end
  local started = now()
  local function poll()
    local last, since
    while true do
      local kind, size = probe(path)
      if kind == "dir" then return nil, kind end
      if size and size >= min_size then
        if not stable then return size end
        if size == last then
          if now() - since >= stable then return size end
        else
          last, since = size, now()
        end
      else
        last = nil
      end
      sleep(interval)
    end
  end
  local ok, size, kind = pcall(timeout, limit, poll)
  if not ok then
    if type(size) == "table" and size.code == "timeout" then
      error({ code = "timeout", path = path,
              message = format("files.wait_for: %s %s within %s", path, stable and "did not appear (or settle)" or "did not appear", tostring(limit)) }, 2)
    end
    error(size, 0)
  end
  if kind == "dir" then
    if opts.stable ~= nil or opts.min_size ~= nil then
      error(format("files.wait_for: %s is a folder: 'stable' and 'min_size' are for files", path), 2)
    end
    return { path = path, type = "dir", waited = now() - started }
  end
  return { path = path, type = "file", size = size, waited = now() - started }
end

return files
