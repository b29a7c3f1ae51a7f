-- files_test.lua: the files plugin (plugins/files.lua), through tide exec.
-- Payload: {"dir": an empty scratch folder}. Returns "ok" or raises the first failed check.
local files = require "files"

local function eq(got, want, what)
  local g, w = json.encode(got), json.encode(want)
  if g ~= w then error(string.format("%s: got %s, want %s", what, g, w), 2) end
end

local function mode_of(path) return (exec({ "stat", "-c", "%a", "--", path }).stdout:gsub("\n$", "")) end

flow {
  name = "files-test",
  timeout = "60s",
  run = function(ctx)
    local d = assert(ctx.payload.dir, "payload.dir")
    for _, p in ipairs({ "a.txt", "b.log", "sub/c.txt", "sub/deeper/e.txt", ".hidden.txt", "sub/.hid/d.txt", "x[1].txt" }) do
      files.write(d .. "/" .. p, p, { mkdir = true, sync = false })
    end

    -- glob: one level, any depth, hidden names, types, character classes, nothing, a literal path
    eq(files.glob(d .. "/*.txt"), { d .. "/a.txt", d .. "/x[1].txt" }, "glob *.txt")
    eq(files.glob(d .. "/**/*.txt"), { d .. "/a.txt", d .. "/sub/c.txt", d .. "/sub/deeper/e.txt", d .. "/x[1].txt" }, "glob **/*.txt")
    eq(#files.glob(d .. "/**/*.txt", { hidden = true }), 6, "glob with hidden")
    eq(files.glob(d .. "/.*.txt"), { d .. "/.hidden.txt" }, "a pattern starting with . matches hidden names")
    eq(files.glob(d .. "/*", { type = "dir" }), { d .. "/sub" }, "glob of folders")
    eq(files.glob(d .. "/[ab].*"), { d .. "/a.txt", d .. "/b.log" }, "glob [ab].*")
    eq(files.glob(d .. "/[!a]*.txt"), { d .. "/x[1].txt" }, "glob [!a]*")
    eq(files.glob(d .. "/?.log"), { d .. "/b.log" }, "glob ?.log")
    eq(files.glob(d .. "/nothing-*"), setmetatable({}, json.array_mt), "no match")
    eq(files.glob(d .. "/missing-folder/*.txt"), setmetatable({}, json.array_mt), "a folder that does not exist")
    eq(files.glob(d .. "/a.txt"), { d .. "/a.txt" }, "a path without wildcards")
    local listed = files.list(d .. "/sub/*")
    eq(#listed, 2, "list")
    eq(listed[1].type, "file", "list type")
    eq(listed[1].size, #"sub/c.txt", "list size")
    assert(math.abs(listed[1].mtime - now()) < 120, "list mtime")

    -- patterns: "*/" matches folders only (as in the shell); sets as the shell reads them; a
    -- malformed pattern is an argument error that names files.glob, not a Lua pattern error
    eq(files.glob(d .. "/*/"), { d .. "/sub" }, "a trailing / matches folders only")
    eq(files.glob(d .. "/**/"), { d .. "/sub", d .. "/sub/deeper" }, "**/ matches folders at any depth")
    eq(files.glob(d .. "/sub/"), { d .. "/sub" }, "a folder named with a trailing /")
    eq(files.glob(d .. "/a.txt/"), setmetatable({}, json.array_mt), "a file named with a trailing / is no match")
    eq(files.glob(d .. "/x[[]1].txt"), { d .. "/x[1].txt" }, "[[] matches a '['")
    eq(files.glob(d .. "/x[[]1[]]*"), { d .. "/x[1].txt" }, "[]] matches a ']'")
    for _, bad in ipairs({ "[!]x.log", "x[1.txt", "[", "[!" }) do
      local okb, eb = pcall(files.glob, d .. "/" .. bad)
      assert(not okb and tostring(eb):find("bad argument #1 to 'files.glob' (unclosed '['", 1, true), bad .. ": " .. tostring(eb))
    end
    local okl, el = pcall(files.list, d .. "/*", { type = "file", hidden = 1, colour = true })
    assert(not okl and tostring(el):find("to 'files.list' (unknown option 'colour'", 1, true), tostring(el))

    -- a relative pattern whose first part starts with "-" is not an option of find (relative
    -- paths are from the current folder: the test's home)
    local rel = "-files-test-" .. ctx.run_id
    local cleanup <close> = setmetatable({}, { __close = function() exec({ "rm", "-rf", "--", rel }) end })
    files.write(rel .. "/x.log", "x", { mkdir = true, sync = false })
    eq(files.glob(rel .. "/*.log"), { rel .. "/x.log" }, "a relative pattern starting with -")
    eq(files.glob(rel), { rel }, "a relative path starting with -")
    eq(files.glob("./" .. rel .. "/*"), { "./" .. rel .. "/x.log" }, "./ kept as written")

    -- names with spaces, quotes, a newline, a tab or a leading dash are data, never command text
    local odd = { "-rf", "it's \"quoted\"", "two words", "new\nline", "tab\there", "$(touch pwned)", "; rm -rf x" }
    exec({ "mkdir", "--", d .. "/odd" })
    for _, name in ipairs(odd) do
      local p = d .. "/odd/" .. name
      files.write(p, name, { mode = "0600" })
      files.write(p, name .. "!")                               -- over an old file: its mode copied
      eq(files.read(p), name .. "!", "write " .. name)
      eq(files.checksum(p), files.checksum_string(name .. "!"), "checksum " .. name)
      eq(files.wait_for(p, { timeout = "1s", min_size = 1 }).size, #name + 1, "wait_for " .. name)
    end
    local odd_paths = {}
    for i, name in ipairs(odd) do odd_paths[i] = d .. "/odd/" .. name end
    table.sort(odd_paths)
    eq(files.glob(d .. "/odd/*"), odd_paths, "glob of odd names")
    eq({ files.exists(d .. "/odd/pwned"), files.exists("pwned") }, { false, false }, "no name ran as a command")

    -- size and wait_for of a folder
    local oks, es = pcall(files.size, d .. "/sub")
    assert(not oks and tostring(es):find("is a folder"), "size of a folder: " .. tostring(es))
    eq(files.size(d .. "/absent"), nil, "size of nothing")
    eq(files.size(d .. "/a.txt"), 5, "size of a file")
    local wd = files.wait_for(d .. "/sub", { timeout = "1s" })
    eq({ wd.type, wd.size }, { "dir" }, "wait_for a folder")
    local okw, ew = pcall(files.wait_for, d .. "/sub", { timeout = "1s", stable = "10ms" })
    assert(not okw and tostring(ew):find("is a folder"), "wait_for a folder to be stable: " .. tostring(ew))
    local okm, em = pcall(files.wait_for, d .. "/a.txt", { min_size = "10k" })
    assert(not okm and tostring(em):find("bad argument #2 to 'files.wait_for' (option 'min_size'", 1, true), tostring(em))

    -- write: atomic replace, keeps the old mode, or sets one; leaves no temporary file
    local target = d .. "/state.json"
    files.write(target, json.encode({ n = 1 }), { mode = "0640" })
    files.write(target, json.encode({ n = 2 }))
    eq(json.decode(files.read(target)), { n = 2 }, "read back")
    eq(mode_of(target), "640", "the old file's mode is kept")
    eq(#files.glob(d .. "/.state.json*", { hidden = true }), 0, "no temporary file left")
    -- a secret is never readable by others while it is written: the temporary file gets its mode
    -- while still empty. Every command write runs is a moment to look at the temporary file.
    local function watch_write(path, content, opts)
      local real, seen = exec, {}
      exec = function(argv, o)
        local dir, base = path:match("^(.*)/([^/]+)$")
        local r = real({ "find", dir, "-maxdepth", "1", "-name", "." .. base .. ".tide-*", "-printf", "%m %s\n" })
        for line in r.stdout:gmatch("[^\n]+") do seen[#seen + 1] = line end
        return real(argv, o)
      end
      local ok, err = pcall(files.write, path, content, opts)
      exec = real
      assert(ok, tostring(err))
      return seen
    end
    local secret = "TOKEN=" .. string.rep("s", 100)
    for _, opts in ipairs({ { mode = "0600" }, {} }) do  -- the mode given, then the old file's mode kept
      local seen = watch_write(d .. "/secret.env", secret, opts)
      assert(#seen > 0, "the temporary file was never seen")
      for _, s in ipairs(seen) do
        local mode, size = s:match("^(%d+) (%d+)$")
        assert(size == "0" or mode == "600", "the secret was written into a file of mode " .. mode .. " (" .. json.encode(opts) .. ")")
      end
      eq(mode_of(d .. "/secret.env"), "600", "the secret's mode")
    end
    files.write(d .. "/public.txt", "x", { mode = "0644" })
    eq(mode_of(d .. "/public.txt"), "644", "a wider mode is set too")
    exec({ "chmod", "0000", "--", d .. "/public.txt" })
    eq(files.exists(d .. "/public.txt"), true, "a file we may not read exists")
    files.write(d .. "/public.txt", "y")
    eq(mode_of(d .. "/public.txt"), "0", "an unreadable file's mode is kept")
    local ok, err = pcall(files.write, d .. "/no/such/folder/x", "y")
    assert(not ok and tostring(err):find("cannot write in"), "write into a missing folder: " .. tostring(err))
    ok, err = pcall(files.write, d .. "/no/such/folder/x", "y", { mode = "0600" })
    assert(not ok and tostring(err):find("cannot write in"), "write into a missing folder: " .. tostring(err))
    files.write(d .. "/new/folder/x", "y", { mkdir = true })
    eq(files.read(d .. "/new/folder/x"), "y", "mkdir")

    -- checksums, against sha256 of known text
    files.write(d .. "/abc", "abc", { sync = false })
    eq(files.checksum(d .. "/abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256")
    eq(files.checksum(d .. "/abc", "md5"), "900150983cd24fb0d6963f7d28e17f72", "md5")
    eq(files.checksum_string("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 of a string")
    eq(files.verify(d .. "/abc", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"), true, "verify")
    local ok2, e2 = pcall(files.checksum, d .. "/abc", "crc")
    assert(not ok2 and tostring(e2):find("unknown algorithm"), tostring(e2))
    local ok3, e3 = pcall(files.checksum, d .. "/absent")
    assert(not ok3 and e3.code == "exit", "checksum of a missing file raises exit")

    -- wait_for: a file that appears while waiting (another task writes it), one that never does
    local waited = parallel(
      function() return files.wait_for(d .. "/late.txt", { timeout = "5s", interval = "20ms", stable = "100ms" }) end,
      function() sleep("150ms"); files.write(d .. "/late.txt", "arrived", { sync = false }) end)
    eq({ waited.type, waited.size }, { "file", 7 }, "wait_for size")
    assert(waited.waited >= 0.1, "wait_for waited " .. waited.waited)
    local t0 = now()
    local ok4, e4 = pcall(files.wait_for, d .. "/never.txt", { timeout = "200ms", interval = "20ms" })
    assert(not ok4 and e4.code == "timeout" and e4.message:find("did not appear within 200ms"), json.encode(e4))
    assert(now() - t0 < 2, "wait_for overran its timeout")
    -- cancellable: losing a race ends the wait at once
    local winner = race({
      waiter = function() return files.wait_for(d .. "/never.txt", { timeout = "1h", interval = "10ms" }) end,
      quick = function() sleep("50ms"); return "quick" end,
    })
    eq(winner, "quick", "race against wait_for")
    return "ok"
  end,
}
