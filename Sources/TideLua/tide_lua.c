/* tide_lua.c: embeds the files in lua/ with #embed so the binary needs no resource files. */
#pragma clang diagnostic ignored "-Wc23-extensions"
#include "tide_lua.h"

static const char prelude[] = {
#embed "lua/prelude.lua"
    , 0
};

static const char json[] = {
#embed "lua/json.lua"
    , 0
};

static const char plugins[] = {
#embed "lua/plugins.lua"
    , 0
};

const char *tide_lua_prelude(size_t *len) { *len = sizeof prelude - 1; return prelude; }
const char *tide_lua_json(size_t *len) { *len = sizeof json - 1; return json; }
const char *tide_lua_plugins(size_t *len) { *len = sizeof plugins - 1; return plugins; }
