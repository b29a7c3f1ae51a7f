/* CLua: the system Lua 5.4 headers (Debian's liblua5.4-dev), as one module. */
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
