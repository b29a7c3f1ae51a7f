-- rotate_test.lua: the rotate plugin (plugins/rotate.lua), through tide exec.
-- Payload: {"dir": an empty scratch folder}. Returns "ok" or raises the first failed check.
local rotate = require "rotate"
local files = require "files"

local function eq(got, want, what)
  local g, w = json.encode(got), json.encode(want)
  if g ~= w then error(string.format("%s: got %s, want %s", what, g, w), 2) end
end

local function paths(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = e.path end
  return out
end

flow {
  name = "rotate-test",
  timeout = "60s",
  run = function(ctx)
    local d = assert(ctx.payload.dir, "payload.dir")
    -- 40 daily backups at noon (local time), newest first: b0 is today
    local noon = os.time({ year = 2024, month = 3, day = 20, hour = 12 })  -- a Wednesday
    local entries = {}
    for i = 0, 39 do entries[#entries + 1] = { path = "b" .. i, mtime = noon - i * 86400 } end

    local keep, drop = rotate.plan(entries, { keep_last = 2 })
    eq(paths(keep), { "b0", "b1" }, "keep_last")
    eq(#drop, 38, "dropped")
    eq(keep[1].reasons, { "newest", "last" }, "reasons")

    keep = rotate.plan(entries, { keep_daily = 3, keep_weekly = 3 })
    -- weeks start on Monday (ISO): Wed 20, Sun 17, Sun 10 are the newest of their weeks
    eq(paths(keep), { "b0", "b1", "b2", "b3", "b10" }, "daily + weekly")

    keep = rotate.plan(entries, { keep_monthly = 2 })
    eq(paths(keep), { "b0", "b20" }, "monthly: the newest of March, then of February (Feb 29)")

    keep = rotate.plan(entries, { keep_within = "3d" })
    eq(paths(keep), { "b0", "b1", "b2", "b3" }, "keep_within, counted back from the newest backup")
    eq(keep[2].reasons, { "within" }, "within reason")
    -- backups that stopped two years ago (these are from 2024) do not age out: as restic's forget,
    -- keep_within counts from the newest backup, not from now
    eq(#rotate.plan(entries, { keep_within = "10d" }), 11, "keep_within when backups stopped")

    -- several backups in one day count once for keep_daily
    local sameday = { { path = "x3", mtime = noon + 3 }, { path = "x2", mtime = noon + 2 }, { path = "y", mtime = noon - 86400 } }
    eq(paths((rotate.plan(sameday, { keep_daily = 2 }))), { "x3", "y" }, "one per day")

    -- the newest is kept even when the policy would drop it
    eq(paths((rotate.plan(entries, { keep_last = 0, keep_within = "1s" }))), { "b0" }, "newest always kept")

    -- bad policies are refused before anything is deleted
    for _, bad in ipairs({ {}, { keep_last = 0 }, { keep_daily = -1 }, { keep_lats = 3 }, { keep_within = "soon" },
                           { keep_within = 0 }, { keep_within = "0s" }, { keep_within = "0s", keep_daily = 0 },
                           { keep_within = -86400 } }) do
      local ok, err = pcall(rotate.plan, entries, bad)
      assert(not ok, "policy accepted: " .. json.encode(bad))
      assert(tostring(err):find("rotate.plan: ", 1, true), "a clear error: " .. tostring(err))
    end
    eq(#rotate.plan(entries, { keep_within = "0s", keep_last = 2 }), 2, "keep_within 0 beside a count is fine")

    -- prune on real files: dry run first, then for real
    for i = 0, 5 do
      local p = string.format("%s/db-%d.sql.gz", d, i)
      files.write(p, "dump " .. i, { sync = false })
      exec({ "touch", "-d", "@" .. (noon - i * 86400), "--", p })
    end
    files.write(d .. "/unrelated.txt", "keep me", { sync = false })
    local dry = rotate.prune(d .. "/db-*.sql.gz", { keep_last = 2, dry_run = true })
    eq(dry.dry_run, true, "dry_run flag")
    eq(#dry.deleted, 4, "dry run lists 4")
    eq(#files.glob(d .. "/db-*"), 6, "dry run deletes nothing")
    local r = rotate.prune(d .. "/db-*.sql.gz", { keep_last = 2 })
    eq(r.kept, { d .. "/db-0.sql.gz", d .. "/db-1.sql.gz" }, "kept")
    eq(files.glob(d .. "/*"), { d .. "/db-0.sql.gz", d .. "/db-1.sql.gz", d .. "/unrelated.txt" }, "what is left")
    local okp, ep = pcall(rotate.prune, d .. "/db-[", { keep_last = 1 })
    assert(not okp and tostring(ep):find("rotate.prune: bad argument #1 to 'files.list' (unclosed '['", 1, true), tostring(ep))
    local none = rotate.prune(d .. "/nothing-*", { keep_last = 1 })
    eq(#none.deleted + #none.kept, 0, "no match, nothing done")

    -- folders only with directories = true
    for i = 0, 2 do
      exec({ "mkdir", "-p", "--", d .. "/snap-" .. i .. "/inner" })
      exec({ "touch", "-d", "@" .. (noon - i * 86400), "--", d .. "/snap-" .. i })
    end
    eq(#rotate.prune(d .. "/snap-*", { keep_last = 1 }).deleted, 0, "folders are not rotated by default")
    local snaps = rotate.prune(d .. "/snap-*", { keep_last = 1, directories = true })
    eq(snaps.deleted, { d .. "/snap-1", d .. "/snap-2" }, "folders deleted")
    eq(files.glob(d .. "/snap-*"), { d .. "/snap-0" }, "one folder left")
    local okf, ef = pcall(rotate.prune, d .. "/snap-*/", { keep_last = 1 })
    assert(not okf and tostring(ef):find("set directories = true", 1, true), "folders only without directories: " .. tostring(ef))
    eq(rotate.prune(d .. "/snap-*/", { keep_last = 1, directories = true }).kept, { d .. "/snap-0" }, "a pattern for folders")

    -- nested matches (directories and **): rm -rf of a folder never takes a kept match with it
    local function touch(rel, t, dir)
      local p = d .. "/" .. rel
      exec({ "mkdir", "-p", "--", dir and p or p:match("^(.*)/") })
      if not dir then files.write(p, rel, { sync = false }) end
      exec({ "touch", "-d", "@" .. t, "--", p })
    end
    touch("bk/2025/new.tar", noon)                  -- the newest file, in an old folder
    touch("bk/2025", noon - 9 * 86400, true)
    touch("bk/a.tar", noon - 86400)
    local nested = rotate.prune(d .. "/bk/**", { keep_last = 1, directories = true })
    eq(nested.kept, { d .. "/bk/2025/new.tar", d .. "/bk/2025" }, "a folder that holds the newest is kept")
    eq(nested.deleted, { d .. "/bk/a.tar" }, "only the old file is deleted")
    eq(files.exists(d .. "/bk/2025/new.tar"), true, "the newest backup survives")
    -- a dropped folder deleted before the dropped files in it: they went with it, no error
    touch("bk2/new.tar", noon)
    touch("bk2/old/x.tar", noon - 3 * 86400)
    touch("bk2/old/y.tar", noon - 4 * 86400)
    touch("bk2/old", noon - 2 * 86400, true)
    local gone = rotate.prune(d .. "/bk2/**", { keep_last = 1, directories = true })
    eq(gone.deleted, { d .. "/bk2/old", d .. "/bk2/old/x.tar", d .. "/bk2/old/y.tar" }, "a folder and what it held")
    eq(files.glob(d .. "/bk2/**"), { d .. "/bk2/new.tar" }, "what is left of bk2")
    -- a folder the policy keeps is kept whole, even its files the policy would drop
    touch("bk3/snap/old.tar", noon - 5 * 86400)
    touch("bk3/snap", noon, true)
    touch("bk3/older.tar", noon - 6 * 86400)
    local whole = rotate.prune(d .. "/bk3/**", { keep_last = 1, directories = true })
    eq(whole.kept, { d .. "/bk3/snap", d .. "/bk3/snap/old.tar" }, "a kept folder keeps its contents")
    eq(whole.deleted, { d .. "/bk3/older.tar" }, "the rest goes")
    return "ok"
  end,
}
