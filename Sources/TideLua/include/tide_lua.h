/* tide_lua.h: the engine's Lua sources, compiled into the binary. */
#ifndef TIDE_LUA_H
#define TIDE_LUA_H
#include <stddef.h>

/* The flow API prelude (parallel, race, any, batch, step, sh, ...). */
const char *tide_lua_prelude(size_t *len);
/* The JSON module (json.encode / json.decode). */
const char *tide_lua_json(size_t *len);
/* require for flows: built-ins, the home's plugins/, settings and setup (plugins.lua). */
const char *tide_lua_plugins(size_t *len);

#endif
