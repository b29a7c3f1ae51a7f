/* tide_shim.h: the C side of the Lua bridge; every lua_error and lua_yield happens in here. */
#ifndef TIDE_SHIM_H
#define TIDE_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

/* What a host function asks its trampoline to do once the Swift frame has returned. */
enum tide_action {
    TIDE_RETURN = 0,   /* push call->ret[0..nret) and return them */
    TIDE_YIELD = 1,    /* yield the running coroutine; on resume, dispatch again with resumed = 1 */
    TIDE_ERROR = 2,    /* raise call->err as "where: message" */
    TIDE_ARGERROR = 3, /* raise "bad argument #argn to 'name' (err)" */
    TIDE_RAISE = 4     /* raise call->ret[0] as the error value, unchanged */
};

/* Kinds of values in call->ret. */
enum tide_vtype {
    TIDE_VNIL = 0,
    TIDE_VBOOL,
    TIDE_VINT,
    TIDE_VNUM,
    TIDE_VSTR,   /* s/len: bytes valid until the next dispatch on this VM */
    TIDE_VMOVE,  /* move the top `i` values of thread `from` (lua_xmove) */
    TIDE_VLIGHT  /* light userdata p */
};

typedef struct tide_value {
    int type;
    int64_t i;
    double n;
    const char *s;
    size_t len;
    lua_State *from;
    void *p;
} tide_value;

#define TIDE_MAXRET 8
#define TIDE_MAXUNREF 16

/* One host call: inputs prepared by C, outputs filled by Swift. */
typedef struct tide_call {
    /* in (spawn only): the new coroutine and the registry reference anchoring it */
    lua_State *thread;
    int ref;
    /* out */
    int nret;
    tide_value ret[TIDE_MAXRET];
    int nunref;
    int unref[TIDE_MAXUNREF];
    const char *err;
    size_t errlen;
    int argn;
} tide_call;

/* Swift's dispatcher: `fn` is the host function id, `resumed` is 1 when called again after a yield. */
typedef int (*tide_dispatch_fn)(void *host, lua_State *L, int fn, int resumed, tide_call *call);

typedef struct tide_vm tide_vm;

/* Lifecycle. tide_vm_new returns NULL when the state cannot be created. */
tide_vm *tide_vm_new(size_t memory_limit, tide_dispatch_fn dispatch, void *host);
void tide_vm_close(tide_vm *vm);
lua_State *tide_vm_state(tide_vm *vm);
size_t tide_vm_memory_used(tide_vm *vm);
size_t tide_vm_memory_limit(tide_vm *vm);
void tide_vm_set_memory_limit(tide_vm *vm, size_t limit);

/* Protected operations on the main state; on error the message is left on the stack top. */
int tide_vm_register(tide_vm *vm, const char *name, int fn);
int tide_vm_register_spawn(tide_vm *vm, const char *name, int fn);
int tide_vm_dostring(tide_vm *vm, const char *src, size_t len, const char *chunkname, int nresults);
/* Like tide_vm_dostring for a precompiled chunk (from tide_compile): for tide's own Lua only. */
int tide_vm_dobytecode(tide_vm *vm, const char *code, size_t len, const char *chunkname, int nresults);
/* Compiles Lua text to bytecode (debug info kept) in a scratch state; a malloc'd buffer, or NULL
   on a syntax error. */
char *tide_compile(const char *src, size_t len, const char *chunkname, size_t *outlen);
int tide_vm_call(tide_vm *vm, const char *global, const char *arg, size_t arglen, int nresults);
int tide_vm_release(tide_vm *vm, const int *refs, int n);

/* Coroutines. tide_resume/tide_close mark the thread as running for the watchdog. */
int tide_resume(tide_vm *vm, lua_State *co, int nargs, int *nres);
int tide_close(tide_vm *vm, lua_State *co);
int64_t tide_thread_id(lua_State *L);
void tide_set_thread_id(lua_State *L, int64_t id);

/* What the hook stopped, for the host (bits): past the phase's deadline, cancelled, or a
 * <close> handler past its budget. */
enum { TIDE_STOP_NONE = 0, TIDE_STOP_DEADLINE = 1, TIDE_STOP_CANCELLED = 2, TIDE_STOP_CLOSE = 4 };

/* Preemption and runaway code. tide_vm_preempt (watchdog thread) signals the run thread, whose
 * handler arms a one-shot count hook: no thread ever touches another thread's lua_State. */
int tide_vm_preempt(tide_vm *vm, uint64_t now_ns, uint64_t slice_ns);
void tide_vm_set_deadline(tide_vm *vm, uint64_t deadline_ns, const char *message);
uint64_t tide_now_ns(void);
int tide_vm_take_stopped(tide_vm *vm);
/* Marks the run cancelled (any thread): runaway code that cannot yield is stopped with an error. */
void tide_vm_set_cancelled(tide_vm *vm, int cancelled);

/* Process set-up, first thing in main: see tide_shim.c. */
void tide_use_single_malloc_arena(void);
/* Returns the heap's free pages to the system (after Lua states were closed). */
void tide_release_free_memory(void);
/* Raises the calling thread's nice value by `increment` (Linux: per thread). */
void tide_lower_thread_priority(int increment);

#endif
