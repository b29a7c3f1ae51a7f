-- plugins.lua: `require` for flows: built-ins first, then the home's plugins/ folder, with
-- metadata, settings (HOME/plugins.json) and setup(config).
--
-- The prelude loads this chunk and calls the function it returns with what it needs; that
-- function replaces package.searchers with one searcher and returns the functions the host calls
-- (set up the module path, describe a plugin, check the settings file).
--
-- Rules (docs/plugins.md):
--   * A name that is a global of flows (string, json, tide, sleep, ...) is a built-in: require
--     gives the built-in table (or refuses a built-in function), never a file in plugins/.
--   * `require "a.b"` looks at plugins/a/b.lua, plugins/a/b/init.lua and plugins/a/b.so; more
--     than one of them existing is an error, not a silent pick.
--   * A plugin's top level and its setup(config) must finish within the load limit (2 s): they
--     run under require, where Lua cannot yield, so only that limit can stop a loop.
--   * setup(config) is called once per Lua state, when the plugin is first required, with
--     plugins.json's entry for the plugin (or an empty table).

local type, pairs, ipairs, error, tostring, select = type, pairs, ipairs, error, tostring, select
local rawget, setmetatable, getmetatable, pcall = rawget, setmetatable, getmetatable, pcall
local format, gsub, smatch, sfind, ssub = string.format, string.gsub, string.match, string.find, string.sub
local concat, sort = table.concat, table.sort
local getinfo = debug.getinfo
local io_open = io.open

return function(T)
  local json, raw_load, raw_loadlib, limited, message_of = T.json, T.raw_load, T.raw_loadlib, T.limited, T.message_of

  local P = {
    folder = nil,          -- absolute path of HOME/plugins; nil: built-ins only
    settings_file = nil,   -- absolute path of HOME/plugins.json
    load_time = 2,         -- seconds a plugin's top level and setup may take
    failed = {},           -- name -> error, for plugins the daemon found failing
    loading = 0,           -- plugins being loaded right now (flow{} is refused meanwhile)
    files = {},            -- name -> the file a plugin was loaded from ("plugins/x.lua")
    kinds = {},            -- name -> "lua" | "c"
    settings = nil,        -- plugins.json decoded (false: no file), read at the first setup
    settings_error = nil,
  }
  local builtins           -- name -> value, frozen by seal() at the end of the prelude
  local system_path, system_cpath = package.path, package.cpath  -- for hints only

  -- "short_src:line: " of the first caller outside tide's own Lua and C functions.
  local function where()
    local level = 2
    while true do
      local info = getinfo(level, "Sl")
      if info == nil then return "" end
      if info.what ~= "C" and info.source ~= "=prelude" and info.source ~= "=plugins" then
        if info.currentline and info.currentline > 0 then return info.short_src .. ":" .. info.currentline .. ": " end
        return info.short_src .. ": "
      end
      level = level + 1
    end
  end

  local function readable(path)
    local f = io_open(path, "rb")
    if f == nil then return false end
    f:close()
    return true
  end

  local function quoted_list(items)
    local out = {}
    for i, s in ipairs(items) do out[i] = s end
    if #out <= 1 then return out[1] or "" end
    return concat(out, ", ", 1, #out - 1) .. " and " .. out[#out]
  end

  ---------------------------------------------------------------- settings

  -- The settings of plugin `name` from plugins.json: its entry, or an empty table.
  local function settings_for(name)
    if P.settings == nil then
      P.settings = false
      local f = P.settings_file and io_open(P.settings_file, "rb")
      if f then
        local text = f:read("a")
        f:close()
        local ok, value = pcall(json.decode, text)
        if not ok then
          P.settings_error = "plugins.json: " .. tostring(value)
        elseif type(value) ~= "table" or getmetatable(value) == json.array_mt then
          P.settings_error = "plugins.json: must be a JSON object with one entry per plugin, such as {\"notify\": {\"url\": \"...\"}}"
        else
          P.settings = value
        end
      end
    end
    if P.settings_error then error(P.settings_error, 0) end
    local entry = P.settings and rawget(P.settings, name) or nil
    if entry == nil or entry == json.null then return setmetatable({}, json.object_mt) end
    if type(entry) ~= "table" or getmetatable(entry) == json.array_mt then
      error(format("plugins.json: the entry for '%s' must be an object of settings, such as {\"url\": \"...\"}, not %s",
        name, type(entry) == "table" and "a list" or "a " .. type(entry)), 0)
    end
    return entry
  end

  ---------------------------------------------------------------- the searcher

  local function display(rel) return "plugins/" .. rel end

  -- Replaces the plugins folder's absolute path with "plugins" in a message (dlopen's).
  local function relative(msg)
    if P.folder == nil or type(msg) ~= "string" then return msg end
    local start, stop = sfind(msg, P.folder, 1, true)
    while start do
      msg = ssub(msg, 1, start - 1) .. "plugins" .. ssub(msg, stop + 1)
      start, stop = sfind(msg, P.folder, start + 7, true)
    end
    return msg
  end

  local function fail(name, msg)
    error(where() .. format("plugin '%s' failed to load: %s", name, msg), 0)
  end

  -- Checks a plugin's declared name. Metadata fields that are not strings are not metadata
  -- (modules from elsewhere use these names for other things, such as lpeg's version()).
  local function check_metadata(name, file, m)
    local declared = rawget(m, "name")
    if type(declared) == "string" and declared ~= name then
      error(format("%s: declares name = %q but is required as %q (make them the same, or leave name out)", file, declared, name), 0)
    end
  end

  -- Runs open() (a plugin's top level) and then its setup(config), within the load limit.
  local function loader(name, file, kind, open)
    return function()
      local limit = P.load_time == math.floor(P.load_time) and format("%d s", P.load_time) or format("%g s", P.load_time)
      P.loading = P.loading + 1
      local _ <close> = setmetatable({}, { __close = function() P.loading = P.loading - 1 end })  -- even when a stop passes through
      local too_long = format("%s: loading took longer than %s (an endless loop at its top level or in setup?)", file, limit)
      local ok, value, stopped = limited(P.load_time, too_long,
        where() .. format("plugin '%s' failed to load: %s", name, too_long),  -- when the script's own limit runs out first
        function()
          local m = open()
          if not sfind(name, ".", 1, true) and type(m) == "table" then
            check_metadata(name, file, m)
            local setup = rawget(m, "setup")
            if type(setup) == "function" then
              local config = settings_for(name)
              local done, e = pcall(setup, config)
              if not done then
                local msg = message_of(e)
                -- file first, with the line when the error is the plugin's own
                local at = smatch(msg, "^" .. gsub(file, "%p", "%%%0") .. ":%d+: ") or file .. ": "
                if ssub(msg, 1, #at) == at then msg = ssub(msg, #at + 1) end
                error(at .. "setup(config) failed: " .. msg, 0)
              end
            end
          end
          return m
        end)
      if not ok then
        if stopped then fail(name, too_long) end
        fail(name, relative(message_of(value)))
      end
      P.files[name], P.kinds[name] = file, kind
      if value == nil then return true end
      return value
    end
  end

  -- The C function luaopen_* for module `name` in `path`, as Lua's own C searcher finds it.
  local function open_c(name, path)
    local mod = gsub(name, "%.", "_")
    local mark = sfind(mod, "-", 1, true)
    if mark then
      local f = raw_loadlib(path, "luaopen_" .. ssub(mod, 1, mark - 1))
      if f then return f end
      mod = ssub(mod, mark + 1)
    end
    local f, err = raw_loadlib(path, "luaopen_" .. mod)
    if not f then return nil, relative(err) end
    return f
  end

  -- Where a module that is not in plugins/ exists on the system's own Lua path, for a hint.
  local function system_copy(name)
    local rel = gsub(gsub(name, "%.", "/"), "%%", "%%%%")
    for _, spec in ipairs({ system_cpath, system_path }) do
      for template in (spec or ""):gmatch("[^;]+") do
        if ssub(template, 1, 1) == "/" then
          local candidate = gsub(template, "%?", rel)
          if readable(candidate) then return candidate end
        end
      end
    end
    return nil
  end

  local function searcher(name)
    local b = builtins and builtins[name]
    if b ~= nil then
      if type(b) == "table" then return function() return b end, "built-in" end
      error(where() .. format("'%s' is a built-in %s of flows, not a module: use it directly (and give a plugin another name)", name, type(b)), 0)
    end
    local preload = package.preload[name]
    if preload ~= nil then return preload, ":preload:" end
    local failed = P.failed[name]  -- the daemon's validation of the plugin failed
    if failed then
      if ssub(failed, 1, 8) ~= "plugin '" then failed = format("plugin '%s' failed to load: %s", name, failed) end
      error(where() .. failed .. " (tide plugins lists the plugins that fail)", 0)
    end
    if P.folder == nil then
      return "no plugins folder: only built-in modules can be required here"
    end
    local rel = gsub(name, "%.", "/")
    local forms = { rel .. ".lua", rel .. "/init.lua", rel .. ".so" }
    local found = {}
    for _, f in ipairs(forms) do
      if readable(P.folder .. "/" .. f) then found[#found + 1] = display(f) end
    end
    if #found > 1 then
      error(where() .. format("plugin '%s' is ambiguous: %s %s exist (remove all but one)", name, quoted_list(found), #found == 2 and "both" or "all"), 0)
    end
    local file = found[1]
    local root = smatch(name, "^([^.]+)%.")
    if file == nil and root and readable(P.folder .. "/" .. root .. ".so") then
      -- Lua's all-in-one loader: a C library holds submodules too (cjson.so has cjson.safe)
      local lib = display(root .. ".so")
      return loader(name, lib, "c", function()
        local f, err = open_c(name, P.folder .. "/" .. root .. ".so")
        if not f then error(format("%s has no submodule '%s' (%s)", lib, name, err), 0) end
        return f(name, lib)
      end), lib
    end
    if file == nil then
      local lines = {}
      for i, f in ipairs(forms) do lines[i] = format("no file '%s'", display(f)) end
      local copy = system_copy(name)
      if copy then
        local ext = smatch(copy, "/init%.lua$") and "" or smatch(copy, "%.%a+$")
        local target = ext == "" and gsub(copy, "/init%.lua$", "") or copy
        lines[#lines + 1] = format("(%s exists but is not on tide's module path: to use it, link it into the home: ln -s %s plugins/%s%s)",
          copy, target, rel, ext)
      end
      return concat(lines, "\n\t")
    end
    local path = P.folder .. "/" .. ssub(file, #"plugins/" + 1)
    if ssub(file, -3) == ".so" then
      return loader(name, file, "c", function()
        local f, err = open_c(name, path)
        if not f then error(err, 0) end
        return f(name, file)
      end), file
    end
    local fh, err = io_open(path, "rb")
    if not fh then fail(name, relative(err)) end
    local source = fh:read("a")
    fh:close()
    local chunk, serr = raw_load(source, "@" .. file, "t")
    if not chunk then fail(name, serr) end
    return loader(name, file, "lua", function() return chunk(name, file) end), file
  end

  package.searchers = { searcher }
  package.path, package.cpath = "", ""

  local M = {}

  -- Freezes the built-in names (every global of flows, standard libraries included); require
  -- of a table among them gives that very table (the reduced `debug` too, not the full one).
  function M.seal()
    builtins = {}
    for k, v in pairs(_G) do
      if type(k) == "string" then builtins[k] = v end
    end
    builtins.tide = package.preload.tide and package.preload.tide() or nil
    for name, v in pairs(builtins) do
      if type(v) == "table" then package.loaded[name] = v end
    end
    package.preload.tide = nil
  end

  -- True while a plugin's top level or setup runs.
  function M.loading() return P.loading > 0 end

  -- Sets the module path from the host's request {plugins, settings, load_time, failed}.
  function M.setup(req)
    if type(req.plugins) == "string" then
      P.folder = req.plugins
      package.path = req.plugins .. "/?.lua;" .. req.plugins .. "/?/init.lua"
      package.cpath = req.plugins .. "/?.so"
    end
    if type(req.settings) == "string" then P.settings_file = req.settings end
    if type(req.load_time) == "number" and req.load_time > 0 then P.load_time = req.load_time end
    if type(req.failed) == "table" then
      for name, msg in pairs(req.failed) do
        if type(name) == "string" and type(msg) == "string" then P.failed[name] = msg end
      end
    end
  end

  -- Loads plugin `name` (file `file`, as the host found it) as the daemon validates it, and
  -- returns its description as JSON: {name, file, kind, version, description, has_setup, configured}.
  function M.describe(request)
    local req = json.decode(request)
    local name, file = req.name, req.file
    local b = builtins[name]
    if b ~= nil then
      if type(b) == "table" then
        error(format("%s: '%s' is a built-in module of flows: require \"%s\" gives the built-in, so this plugin is never loaded (rename it)", file, name, name), 0)
      end
      error(format("%s: '%s' is a built-in %s of flows: a plugin cannot take its name (rename it)", file, name, type(b)), 0)
    end
    local m = require(name)
    local info = setmetatable({ name = name, file = P.files[name] or file, kind = P.kinds[name] or "lua" }, json.object_mt)
    if type(m) == "table" then  -- its fields were checked as it loaded
      local function text(field, fallback)
        local v = rawget(m, field)
        if type(v) ~= "string" then v = rawget(m, fallback) end
        if type(v) == "string" then return v end
        return nil
      end
      info.version, info.description = text("version", "_VERSION"), text("description", "_DESCRIPTION")
      info.has_setup = type(rawget(m, "setup")) == "function"
    else
      info.has_setup = false
    end
    pcall(settings_for, name)  -- read by setup already, or now (its errors are check_settings')
    info.configured = P.settings and rawget(P.settings, name) ~= nil or false
    return json.encode(info)
  end

  -- Compiles modules that are not plugins of their own (plugins/a/b.lua, required as "a.b"),
  -- without running them: a JSON array of files relative to the home in, a JSON array of
  -- {file, message} out for the ones that do not compile ("plugins/a/b.lua:3: ...").
  function M.compile(files_json)
    local errors = setmetatable({}, json.array_mt)
    for _, file in ipairs(json.decode(files_json)) do
      local fh, err = io_open(P.folder .. "/" .. ssub(file, #"plugins/" + 1), "rb")
      if fh then
        local source = fh:read("a")
        fh:close()
        local chunk, serr = raw_load(source, "@" .. file, "t")
        if not chunk then errors[#errors + 1] = setmetatable({ file = file, message = serr }, json.object_mt) end
      else
        errors[#errors + 1] = setmetatable({ file = file, message = relative(err) }, json.object_mt)
      end
    end
    return json.encode(errors)
  end

  -- Checks plugins.json against the plugins that exist (a JSON array of names); returns a JSON
  -- array of error messages (an unreadable file, an entry for a plugin that does not exist).
  function M.check_settings(names_json)
    local names = {}
    for _, n in ipairs(json.decode(names_json)) do names[n] = true end
    local errors = setmetatable({}, json.array_mt)
    local ok, e = pcall(settings_for, "")
    if not ok then
      errors[1] = message_of(e)
    elseif P.settings then
      local unknown = {}
      for k in pairs(P.settings) do
        if not names[k] then unknown[#unknown + 1] = tostring(k) end
      end
      sort(unknown)
      for _, k in ipairs(unknown) do
        errors[#errors + 1] = format("plugins.json: settings for '%s', but there is no plugin of that name in plugins/ (a typo?)", k)
      end
    end
    return json.encode(errors)
  end

  return M
end
