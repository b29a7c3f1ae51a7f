/* fuzz_lua.c: a libFuzzer harness for tide's Lua code (json.lua, the prelude's parsers).
 *
 * One lua_State for the whole run. At start-up it runs the driver chunk TIDE_FUZZ_DRIVER with
 * the folder of tide's Lua sources (TIDE_LUA_DIR); the driver returns the function that takes
 * one input. That function raises an error whose message starts with "invariant:" when the code
 * under test misbehaved; the harness aborts on it, so libFuzzer saves the input. Any other
 * error (a refused input, "not enough memory" from the allocator's cap) is an accepted outcome.
 *
 * Coverage: libFuzzer sees the C of this file only, not the Lua it runs (the system Lua is not
 * instrumented). A line hook therefore feeds libFuzzer's extra counters with Lua line-to-line
 * edges (hashed with the chunk), so inputs that reach new Lua lines are kept. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNTERS (1 << 16)
/* libFuzzer reads this section as extra coverage counters (Linux). */
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t lua_edges[COUNTERS];

#define MEMORY_LIMIT ((size_t)256 << 20) /* an input that needs more fails with LUA_ERRMEM */

static lua_State *state;
static size_t in_use;
static uint32_t previous_line;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    if (ptr == NULL) osize = 0; /* osize is then a type tag, not a size */
    if (nsize == 0) {
        free(ptr);
        in_use -= osize;
        return NULL;
    }
    if (nsize > osize && in_use + (nsize - osize) > MEMORY_LIMIT) return NULL;
    void *p = realloc(ptr, nsize);
    if (p != NULL) in_use = in_use - osize + nsize;
    return p;
}

static void line_hook(lua_State *L, lua_Debug *ar) {
    (void)L;
    uint32_t here = (uint32_t)ar->currentline * 2654435761u;
    lua_edges[(here ^ (previous_line >> 1)) & (COUNTERS - 1)]++;
    previous_line = here;
}

static void setup(void) {
    state = lua_newstate(capped_alloc, NULL);
    if (state == NULL) abort();
    luaL_openlibs(state);
    if (luaL_loadfile(state, TIDE_FUZZ_DRIVER) != LUA_OK) {
        fprintf(stderr, "fuzz_lua: %s\n", lua_tostring(state, -1));
        abort();
    }
    lua_pushstring(state, TIDE_LUA_DIR);
    if (lua_pcall(state, 1, 1, 0) != LUA_OK || !lua_isfunction(state, -1)) {
        fprintf(stderr, "fuzz_lua: the driver did not return a function: %s\n", lua_tostring(state, -1));
        abort();
    }
    lua_setfield(state, LUA_REGISTRYINDEX, "tide_fuzz_one");
    lua_sethook(state, line_hook, LUA_MASKLINE, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (state == NULL) setup();
    previous_line = 0;
    lua_getfield(state, LUA_REGISTRYINDEX, "tide_fuzz_one");
    lua_pushlstring(state, (const char *)data, size);
    int status = lua_pcall(state, 1, 0, 0);
    if (status != LUA_OK) {
        const char *message = lua_tostring(state, -1);
        if (message != NULL && strncmp(message, "invariant:", 10) == 0) {
            fprintf(stderr, "fuzz_lua: %s\n", message);
            abort();
        }
        lua_pop(state, 1); /* an accepted failure (e.g. out of memory) */
    }
    lua_gc(state, LUA_GCCOLLECT); /* the next input starts from a clean heap */
    return 0;
}
