/* Run the Lua chunk given as the first argument, or a small sum. */
#include <stdio.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

int main(int argc, char **argv) {
    const char *chunk = argc > 1 ? argv[1] : "local s = 0 for i = 1, 10 do s = s + i end print(_VERSION, s)";
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    int rc = luaL_dostring(L, chunk);
    if (rc != LUA_OK)
        fprintf(stderr, "luarun: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
}
