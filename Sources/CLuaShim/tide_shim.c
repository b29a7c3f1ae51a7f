/* tide_shim.c: trampolines, allocator, hook and protected helpers; the only code that longjmps. */
#include "tide_shim.h"

#include <errno.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Small blocks (most of what Lua allocates: strings, tables, closures, upvalues) come from
 * per-state slabs with a free list per size class, not from malloc: a run creates and frees a
 * state with a few thousand objects, and through malloc that cost a fifth of a trivial run's
 * CPU, much of it in arena locks shared by the run threads. A state is used by one thread at a
 * time, so the slabs need no lock; they are freed with the state. Larger blocks use malloc. */
#define TIDE_SMALL_MAX 256
#define TIDE_CLASS_SHIFT 4  /* classes of 16 bytes */
#define TIDE_CLASSES (TIDE_SMALL_MAX >> TIDE_CLASS_SHIFT)
#define TIDE_SLAB_BYTES (32 * 1024)

struct tide_slab { struct tide_slab *next; };
struct tide_free { struct tide_free *next; };

struct tide_vm {
    lua_State *L;
    /* allocator accounting: growth past `limit` is refused, shrinking never fails */
    size_t used;
    size_t limit;
    struct tide_free *free_lists[TIDE_CLASSES];
    struct tide_slab *slabs;
    char *carve;      /* unused tail of the newest slab */
    size_t carve_left;
    tide_dispatch_fn dispatch;
    void *host;
    /* Written only by the run thread; read by the watchdog (atomics) and by the preemption signal
     * handler, which runs on the run thread itself. */
    _Atomic(lua_State *) running;  /* innermost thread executing Lua code, or NULL */
    _Atomic uint64_t running_since;  /* when the outermost current resume began */
    pthread_t thread;                /* the run thread, while `running` is set */
    int closing;                     /* running __close handlers: never yield */
    /* Why runaway code must stop: past `deadline` (0 = none), or cancelled. */
    _Atomic uint64_t deadline;
    _Atomic int cancelled;
    _Atomic int stopped;             /* what the hook raised: TIDE_STOP_* bits */
    int preempt_pending;             /* the hook fired where it could not yield: yield when possible */
    /* The signal handler arms the hook with lua_sethook, which marks every call frame of the
     * running thread (settraps): 14 ns a frame, so ~10 ms at the depth of a runaway recursion.
     * The watchdog signals again only once the armed hook has fired (or the thread it was armed
     * on stopped running), and waits four times that cost between two signals, so arming takes
     * at most a fifth of the thread's time at any depth and never a signal per slice. */
    _Atomic int hook_armed;
    _Atomic uint64_t arm_cost_ns;    /* how long the handler's last lua_sethook took */
    uint64_t signalled_at;           /* watchdog only: when it last interrupted this VM */
    char deadline_message[160];
};

/* initial-exec: the shim is linked into the executable, so no __tls_get_addr on the hot path */
static __attribute__((tls_model("initial-exec"))) _Thread_local tide_vm *tide_current_vm;
static int tide_preempt_signal;

uint64_t tide_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline size_t tide_class(size_t size) { return (size - 1) >> TIDE_CLASS_SHIFT; }

static void *tide_small_alloc(tide_vm *vm, size_t size) {
    size_t c = tide_class(size);
    struct tide_free *block = vm->free_lists[c];
    if (block != NULL) {
        vm->free_lists[c] = block->next;
        return block;
    }
    size_t bytes = (c + 1) << TIDE_CLASS_SHIFT;
    if (vm->carve_left < bytes) {
        /* the tail of the old slab goes to the free lists, in the largest classes it fits */
        while (vm->carve_left >= (1 << TIDE_CLASS_SHIFT)) {
            size_t fit = vm->carve_left > TIDE_SMALL_MAX ? TIDE_SMALL_MAX : vm->carve_left & ~(size_t)((1 << TIDE_CLASS_SHIFT) - 1);
            struct tide_free *tail = (struct tide_free *)vm->carve;
            tail->next = vm->free_lists[tide_class(fit)];
            vm->free_lists[tide_class(fit)] = tail;
            vm->carve += fit;
            vm->carve_left -= fit;
        }
        struct tide_slab *slab = malloc(TIDE_SLAB_BYTES);
        if (slab == NULL)
            return NULL;
        slab->next = vm->slabs;
        vm->slabs = slab;
        vm->carve = (char *)slab + 16;  /* keeps blocks 16-byte aligned */
        vm->carve_left = TIDE_SLAB_BYTES - 16;
    }
    void *p = vm->carve;
    vm->carve += bytes;
    vm->carve_left -= bytes;
    return p;
}

static inline void tide_small_free(tide_vm *vm, void *ptr, size_t size) {
    struct tide_free *block = (struct tide_free *)ptr;
    size_t c = tide_class(size);
    block->next = vm->free_lists[c];
    vm->free_lists[c] = block;
}

static void tide_free_slabs(tide_vm *vm) {
    struct tide_slab *slab = vm->slabs;
    while (slab != NULL) {
        struct tide_slab *next = slab->next;
        free(slab);
        slab = next;
    }
    vm->slabs = NULL;
    vm->carve = NULL;
    vm->carve_left = 0;
    memset(vm->free_lists, 0, sizeof vm->free_lists);
}

static void *tide_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    tide_vm *vm = (tide_vm *)ud;
    size_t old = ptr ? osize : 0;  /* with ptr == NULL, osize is a type tag */
    if (nsize == 0) {
        if (ptr != NULL) {
            if (old <= TIDE_SMALL_MAX)
                tide_small_free(vm, ptr, old);
            else
                free(ptr);
        }
        vm->used -= old;
        return NULL;
    }
    if (nsize > old && vm->used - old + nsize > vm->limit)
        return NULL;  /* refuse growth only: Lua raises "not enough memory" */
    void *p;
    if (ptr != NULL && old > TIDE_SMALL_MAX && nsize > TIDE_SMALL_MAX) {
        p = realloc(ptr, nsize);
    } else if (ptr != NULL && old <= TIDE_SMALL_MAX && nsize <= TIDE_SMALL_MAX && tide_class(old) == tide_class(nsize)) {
        p = ptr;  /* same class: the block already fits */
    } else {
        p = nsize <= TIDE_SMALL_MAX ? tide_small_alloc(vm, nsize) : malloc(nsize);
        if (p != NULL && ptr != NULL) {
            memcpy(p, ptr, old < nsize ? old : nsize);
            if (old <= TIDE_SMALL_MAX)
                tide_small_free(vm, ptr, old);
            else
                free(ptr);
        }
    }
    if (p != NULL)
        vm->used = vm->used - old + nsize;
    return p;
}

static int tide_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "tide: unprotected Lua error (a bug in tide): %s\n", msg ? msg : "?");
    abort();
}

int64_t tide_thread_id(lua_State *L) {
    int64_t id;
    memcpy(&id, lua_getextraspace(L), sizeof id);
    return id;
}

void tide_set_thread_id(lua_State *L, int64_t id) {
    memcpy(lua_getextraspace(L), &id, sizeof id);
}

static void tide_enter(tide_vm *vm, lua_State *co, lua_State **prev, uint64_t *prev_since, int closing);
static void tide_leave(tide_vm *vm, lua_State *co, lua_State *prev, uint64_t prev_since, int closing);

/* ---------------------------------------------------------------- trampolines */

static int tide_finish(lua_State *L, tide_vm *vm, int fn, int action, tide_call *c);

static void tide_call_init(tide_call *c) {
    c->thread = NULL;
    c->ref = LUA_NOREF;
    c->nret = 0;
    c->nunref = 0;
    c->err = NULL;
    c->errlen = 0;
    c->argn = 0;
}

static int tide_k(lua_State *L, int status, lua_KContext ctx) {
    (void)status;
    tide_vm *vm = (tide_vm *)lua_touserdata(L, lua_upvalueindex(2));
    int fn = (int)ctx;
    tide_call c;
    tide_call_init(&c);
    int action = vm->dispatch(vm->host, L, fn, 1, &c);
    return tide_finish(L, vm, fn, action, &c);
}

static int tide_push_values(lua_State *L, tide_call *c) {
    int pushed = 0;
    for (int i = 0; i < c->nret; i++) {
        tide_value *v = &c->ret[i];
        switch (v->type) {
        case TIDE_VBOOL: lua_pushboolean(L, v->i != 0); pushed++; break;
        case TIDE_VINT: lua_pushinteger(L, (lua_Integer)v->i); pushed++; break;
        case TIDE_VNUM: lua_pushnumber(L, (lua_Number)v->n); pushed++; break;
        case TIDE_VSTR: lua_pushlstring(L, v->s ? v->s : "", v->len); pushed++; break;
        case TIDE_VLIGHT: lua_pushlightuserdata(L, v->p); pushed++; break;
        case TIDE_VMOVE:
            luaL_checkstack(L, (int)v->i, "too many results");
            lua_xmove(v->from, L, (int)v->i);
            pushed += (int)v->i;
            break;
        default: lua_pushnil(L); pushed++; break;
        }
    }
    return pushed;
}

static void tide_unref_all(lua_State *L, tide_call *c) {
    for (int i = 0; i < c->nunref; i++)
        luaL_unref(L, LUA_REGISTRYINDEX, c->unref[i]);
    c->nunref = 0;
}

/* Pushes "file:line: " of the first Lua frame outside the prelude (the user's call), or "". */
static void tide_where(lua_State *L) {
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline > 0 && strcmp(ar.source, "=prelude") != 0) {
            lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
            return;
        }
    }
    lua_pushliteral(L, "");
}

/* References are released only after values were moved off the threads they anchor. */
static int tide_finish(lua_State *L, tide_vm *vm, int fn, int action, tide_call *c) {
    int n;
    (void)vm;
    switch (action) {
    case TIDE_RETURN:
        luaL_checkstack(L, c->nret + 2, "too many results");
        n = tide_push_values(L, c);
        tide_unref_all(L, c);
        return n;
    case TIDE_YIELD:
        tide_unref_all(L, c);
        return lua_yieldk(L, 0, (lua_KContext)fn, tide_k);
    case TIDE_ARGERROR:
        tide_unref_all(L, c);
        lua_pushlstring(L, c->err ? c->err : "", c->errlen);
        return luaL_argerror(L, c->argn, lua_tostring(L, -1));
    case TIDE_RAISE:
        luaL_checkstack(L, c->nret + 2, "too many results");
        tide_push_values(L, c);
        tide_unref_all(L, c);
        return lua_error(L);
    case TIDE_ERROR:
    default:
        tide_unref_all(L, c);
        tide_where(L);
        lua_pushlstring(L, c->err ? c->err : "error", c->errlen);
        lua_concat(L, 2);
        return lua_error(L);
    }
}

static int tide_trampoline(lua_State *L) {
    int fn = (int)lua_tointeger(L, lua_upvalueindex(1));
    tide_vm *vm = (tide_vm *)lua_touserdata(L, lua_upvalueindex(2));
    tide_call c;
    tide_call_init(&c);
    int action = vm->dispatch(vm->host, L, fn, 0, &c);
    return tide_finish(L, vm, fn, action, &c);
}

/* spawn(fn, ...): creates the coroutine and its anchor here, where raising is safe. */
static int tide_spawn_trampoline(lua_State *L) {
    int fn = (int)lua_tointeger(L, lua_upvalueindex(1));
    tide_vm *vm = (tide_vm *)lua_touserdata(L, lua_upvalueindex(2));
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    int top = lua_gettop(L) - 1;                  /* without the new thread */
    int nextra = top > 4 ? top - 4 : 0;           /* spawn(fn, group, index, label, args...) */
    luaL_checkstack(co, nextra + 1, "too many arguments");
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);                          /* the body goes first on its stack */
    for (int i = 5; i <= top; i++)
        lua_pushvalue(L, i);
    lua_xmove(L, co, nextra);                     /* then its arguments */
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);     /* anchors the thread, pops it */
    tide_set_thread_id(co, 0);
    lua_sethook(co, NULL, 0, 0);                  /* never inherit a pending preemption */
    tide_call c;
    tide_call_init(&c);
    c.thread = co;
    c.ref = ref;
    int action = vm->dispatch(vm->host, L, fn, 0, &c);
    return tide_finish(L, vm, fn, action, &c);
}

/* ---------------------------------------------------------------- preemption */

/* Whether running code must stop now (cancelled, or past the deadline); not while closing. */
static int tide_must_stop(tide_vm *vm) {
    if (vm->closing)
        return 0;
    if (atomic_load(&vm->cancelled))
        return 1;
    uint64_t deadline = atomic_load(&vm->deadline);
    return deadline != 0 && tide_now_ns() >= deadline;
}

/* Raises an engine-style error table {code = code, message = message}; on the main thread (a
 * script's top level being loaded) a plain message, which load errors report as text. */
static int tide_raise_stop(lua_State *L, const char *code, const char *message) {
    if (lua_pushthread(L)) {
        lua_pop(L, 1);
        return luaL_error(L, "%s", message);
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    return lua_error(L);
}

static void tide_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    tide_vm *vm;
    lua_getallocf(L, (void **)&vm);
    lua_sethook(L, NULL, 0, 0);  /* one-shot: the watchdog arms it again if needed */
    atomic_store(&vm->hook_armed, 0);
    if (tide_thread_id(L) != 0 && !vm->closing && lua_isyieldable(L)) {
        vm->preempt_pending = 0;
        lua_yield(L, 0);
        return;
    }
    /* Cannot yield here (a C boundary, a user coroutine, a script's top level): stop the code
     * with an error when it must stop, and keep raising until it can be stopped. */
    if (atomic_load(&vm->cancelled) && !vm->closing) {
        atomic_fetch_or(&vm->stopped, TIDE_STOP_CANCELLED);
        lua_sethook(L, tide_hook, LUA_MASKCOUNT, 1000);
        tide_raise_stop(L, "cancelled", "run cancelled");
    }
    uint64_t deadline = atomic_load(&vm->deadline);
    if (deadline != 0 && tide_now_ns() >= deadline) {
        atomic_fetch_or(&vm->stopped, vm->closing ? TIDE_STOP_CLOSE : TIDE_STOP_DEADLINE);
        lua_sethook(L, tide_hook, LUA_MASKCOUNT, 1000);
        tide_raise_stop(L, "timeout", vm->closing ? "a <close> handler ran past its deadline" : vm->deadline_message);
    }
    /* a preemption that could not yield here happens as soon as the task runs again */
    vm->preempt_pending = 1;
}

/* Runs on the run thread (delivered by pthread_kill): arms the hook there, as lua.c does from
 * its SIGINT handler. lua_sethook is safe in a signal handler on the thread running Lua. */
static void tide_preempt_handler(int sig) {
    (void)sig;
    tide_vm *vm = tide_current_vm;
    if (vm == NULL)
        return;
    lua_State *L = atomic_load(&vm->running);
    if (L == NULL)
        return;
    uint64_t start = tide_now_ns();  /* clock_gettime is async-signal-safe */
    atomic_store(&vm->hook_armed, 1);
    lua_sethook(L, tide_hook, LUA_MASKCOUNT, 1);
    atomic_store(&vm->arm_cost_ns, tide_now_ns() - start);
}

static pthread_once_t tide_signal_once = PTHREAD_ONCE_INIT;

static void tide_install_signal(void) {
    tide_preempt_signal = SIGRTMIN + 4;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tide_preempt_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(tide_preempt_signal, &sa, NULL);
}

int tide_vm_preempt(tide_vm *vm, uint64_t now_ns, uint64_t slice_ns) {
    if (atomic_load(&vm->running) == NULL)
        return 0;
    uint64_t since = atomic_load(&vm->running_since);
    uint64_t deadline = atomic_load(&vm->deadline);
    int due = (since != 0 && now_ns - since >= slice_ns) || atomic_load(&vm->cancelled) ||
              (deadline != 0 && now_ns >= deadline);
    /* Not while the last arming is still to fire, and at most one signal a slice or four times
     * what arming cost (see hook_armed): in deep recursion, signalling faster starved the thread,
     * and the handler, re-entered forever, held whatever lock it had interrupted. */
    uint64_t gap = 4 * atomic_load(&vm->arm_cost_ns);
    if (gap < slice_ns)
        gap = slice_ns;
    if (!due || atomic_load(&vm->hook_armed) || now_ns - vm->signalled_at < gap)
        return 0;
    vm->signalled_at = now_ns;
    pthread_kill(vm->thread, tide_preempt_signal);
    return 1;
}

void tide_vm_set_deadline(tide_vm *vm, uint64_t deadline_ns, const char *message) {
    snprintf(vm->deadline_message, sizeof vm->deadline_message, "%s", message ? message : "timed out");
    atomic_store(&vm->deadline, deadline_ns);
}

int tide_vm_take_stopped(tide_vm *vm) { return atomic_exchange(&vm->stopped, 0); }

void tide_vm_set_cancelled(tide_vm *vm, int cancelled) { atomic_store(&vm->cancelled, cancelled); }


static __attribute__((tls_model("initial-exec"))) _Thread_local int tide_signal_unblocked;

static void tide_enter(tide_vm *vm, lua_State *co, lua_State **prev, uint64_t *prev_since, int closing) {
    if (!tide_signal_unblocked) {
        /* threads made by Dispatch workers inherit a mask that blocks asynchronous signals */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, tide_preempt_signal);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        tide_signal_unblocked = 1;
    }
    *prev = atomic_load(&vm->running);
    *prev_since = atomic_load(&vm->running_since);
    if (*prev == NULL) {
        vm->thread = pthread_self();
        tide_current_vm = vm;
        atomic_store(&vm->running_since, tide_now_ns());
    }
    vm->closing += closing;
    atomic_store(&vm->running, co);
    atomic_store(&vm->hook_armed, 0);  /* a hook armed on prev fires only when prev runs again */
}

static void tide_leave(tide_vm *vm, lua_State *co, lua_State *prev, uint64_t prev_since, int closing) {
    atomic_store(&vm->running, prev);  /* first: a late signal no longer arms `co` */
    lua_sethook(co, NULL, 0, 0);       /* a hook armed too late must not fire on its next resume */
    atomic_store(&vm->hook_armed, 0);
    atomic_store(&vm->running_since, prev_since);
    vm->closing -= closing;
    if (prev == NULL)
        tide_current_vm = NULL;
}

int tide_resume(tide_vm *vm, lua_State *co, int nargs, int *nres) {
    lua_State *prev;
    uint64_t since;
    tide_enter(vm, co, &prev, &since, 0);
    int status = lua_resume(co, vm->L, nargs, nres);
    tide_leave(vm, co, prev, since, 0);
    return status;
}

int tide_close(tide_vm *vm, lua_State *co) {
    lua_State *prev;
    uint64_t since;
    tide_enter(vm, co, &prev, &since, 1);
    int status = lua_resetthread(co);
    tide_leave(vm, co, prev, since, 1);
    return status;
}

/* ---------------------------------------------------------------- user coroutines */
/* coroutine.resume / coroutine.wrap from lcorolib.c, telling the watchdog which thread runs. */

static int tide_auxresume(lua_State *L, lua_State *co, int narg) {
    tide_vm *vm;
    lua_getallocf(L, (void **)&vm);
    int status, nres;
    if (tide_thread_id(co) != 0) {
        lua_pushliteral(L, "cannot resume a tide task with coroutine.resume (the engine schedules it)");
        return -1;
    }
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    lua_State *prev;
    uint64_t since;
    tide_enter(vm, co, &prev, &since, 0);
    status = lua_resume(co, L, narg, &nres);
    tide_leave(vm, co, prev, since, 0);
    if (vm->preempt_pending || tide_must_stop(vm))
        lua_sethook(L, tide_hook, LUA_MASKCOUNT, 1);  /* the resumer yields or stops next */
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

static int tide_co_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int r = tide_auxresume(L, co, lua_gettop(L) - 1);
    tide_vm *vm;
    lua_getallocf(L, (void **)&vm);
    if (r < 0 && tide_must_stop(vm))
        return lua_error(L);  /* a stop is not the coroutine's to swallow */
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

static int tide_co_auxwrap(lua_State *L) {
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int r = tide_auxresume(L, co, lua_gettop(L));
    if (r < 0) {
        int stat = lua_status(co);
        if (stat != LUA_OK && stat != LUA_YIELD) {
            tide_vm *vm;
            lua_State *prev;
            uint64_t since;
            lua_getallocf(L, (void **)&vm);
            tide_enter(vm, co, &prev, &since, 0);  /* its __close handlers run where the watchdog sees them */
            stat = lua_resetthread(co);
            tide_leave(vm, co, prev, since, 0);
            lua_xmove(co, L, 1);
        }
        if (stat != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
            luaL_where(L, 1);
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    return r;
}

static int tide_co_close(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    if (tide_thread_id(co) != 0)
        return luaL_error(L, "cannot close a tide task with coroutine.close (cancel it through its group)");
    tide_vm *vm;
    lua_State *prev;
    uint64_t since;
    lua_getallocf(L, (void **)&vm);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    tide_enter(vm, co, &prev, &since, 0);  /* its __close handlers run where the watchdog sees them */
    int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    tide_leave(vm, co, prev, since, 0);
    if (status != LUA_OK)
        return lua_error(L);
    return lua_gettop(L);
}

/* pcall and xpcall from lbaselib.c, except that a stop (cancelled, or past the deadline) is not
 * theirs to catch: user code looping around pcall could otherwise outlive its run. */
static int tide_finishpcall(lua_State *L, int status, lua_KContext extra) {
    if (status != LUA_OK && status != LUA_YIELD) {
        tide_vm *vm;
        lua_getallocf(L, (void **)&vm);
        if (tide_must_stop(vm))
            return lua_error(L);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

static int tide_pcall(lua_State *L) {
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, tide_finishpcall);
    return tide_finishpcall(L, status, 0);
}

static int tide_xpcall(lua_State *L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, tide_finishpcall);
    return tide_finishpcall(L, status, 2);
}

/* __tide_limited(seconds, message, outer, f, ...): calls f(...) in protected mode with the VM's
 * deadline brought forward to at most `seconds` from now (stopping with `message`), then puts the
 * deadline back. Returns true and f's results; or false, the error value, and whether this limit
 * stopped f. It bounds what cannot yield and so cannot be preempted otherwise: the top level and
 * setup of a plugin under require. A cancel, or an outer deadline in a task, is raised on
 * unchanged; an outer deadline on the main thread (a script's top level being loaded, whose own
 * limit ran out while the plugin loaded) is raised as `outer`, which names the plugin. */
static int tide_limited(lua_State *L) {
    tide_vm *vm;
    lua_getallocf(L, (void **)&vm);
    lua_Number seconds = luaL_checknumber(L, 1);
    const char *message = luaL_checkstring(L, 2);
    luaL_checkstring(L, 3);
    luaL_checktype(L, 4, LUA_TFUNCTION);
    uint64_t saved = atomic_load(&vm->deadline);
    char saved_message[sizeof vm->deadline_message];
    memcpy(saved_message, vm->deadline_message, sizeof saved_message);
    uint64_t mine = tide_now_ns() + (uint64_t)(seconds > 0 ? seconds * 1e9 : 0);
    int limits = saved == 0 || mine < saved;  /* an earlier outer deadline stays in charge */
    int stopped_before = atomic_load(&vm->stopped);
    if (limits)
        tide_vm_set_deadline(vm, mine, message);
    int status = lua_pcall(L, lua_gettop(L) - 4, LUA_MULTRET, 0);
    int fired = limits && status != LUA_OK && tide_now_ns() >= mine;
    if (limits) {
        memcpy(vm->deadline_message, saved_message, sizeof saved_message);
        atomic_store(&vm->deadline, saved);
    }
    if (fired && !(stopped_before & TIDE_STOP_DEADLINE))
        atomic_fetch_and(&vm->stopped, ~TIDE_STOP_DEADLINE);  /* this limit's stop, not the run's */
    if (status != LUA_OK && !fired && tide_must_stop(vm)) {
        int on_main = lua_pushthread(L);
        lua_pop(L, 1);
        if (on_main && !atomic_load(&vm->cancelled)) {
            lua_pushvalue(L, 3);
            return lua_error(L);
        }
        return lua_error(L);
    }
    if (status == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_replace(L, 3);  /* stack: seconds, message, true, results... */
        return lua_gettop(L) - 2;
    }
    lua_pushboolean(L, 0);
    lua_replace(L, 3);      /* stack: seconds, message, false, error */
    lua_pushboolean(L, fired);
    return 3;
}

static int tide_co_wrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *NL = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, NL, 1);
    lua_pushcclosure(L, tide_co_auxwrap, 1);
    return 1;
}

/* ---------------------------------------------------------------- sandboxed base functions */
/* load, loadfile, dofile and setmetatable from lbaselib.c (Lua 5.4.4), loading text chunks only
 * and refusing __gc. They are C functions, as the originals are, so that their errors are the
 * originals': "bad argument #1 to 'setmetatable' (table expected, got number)" at the caller's
 * file:line. (A Lua wrapper raised them at its own line in the prelude, naming its local.) */

#define TIDE_RESERVEDSLOT 5  /* load's reader keeps the piece it returns here */

static const char *tide_generic_reader(lua_State *L, void *ud, size_t *size) {
    (void)ud;
    luaL_checkstack(L, 2, "too many nested functions");
    lua_pushvalue(L, 1);  /* the reader function */
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        *size = 0;
        return NULL;
    } else if (!lua_isstring(L, -1))
        luaL_error(L, "reader function must return a string");
    lua_replace(L, TIDE_RESERVEDSLOT);
    return lua_tolstring(L, TIDE_RESERVEDSLOT, size);
}

static int tide_load_aux(lua_State *L, int status, int envidx) {
    if (status == LUA_OK) {
        if (envidx != 0) {  /* 'env' parameter? */
            lua_pushvalue(L, envidx);
            if (!lua_setupvalue(L, -2, 1))  /* set it as 1st upvalue */
                lua_pop(L, 1);              /* remove 'env' if not used by previous call */
        }
        return 1;
    }
    luaL_pushfail(L);  /* error (message is on top of the stack) */
    lua_insert(L, -2);
    return 2;          /* return fail plus error message */
}

static int tide_base_load(lua_State *L) {
    int status;
    size_t l;
    const char *s = lua_tolstring(L, 1, &l);
    (void)luaL_optstring(L, 3, "bt");  /* checked as the original checks it; tide loads text only */
    int env = (!lua_isnone(L, 4) ? 4 : 0);
    if (s != NULL) {
        const char *chunkname = luaL_optstring(L, 2, s);
        status = luaL_loadbufferx(L, s, l, chunkname, "t");
    } else {
        const char *chunkname = luaL_optstring(L, 2, "=(load)");
        luaL_checktype(L, 1, LUA_TFUNCTION);
        lua_settop(L, TIDE_RESERVEDSLOT);
        status = lua_load(L, tide_generic_reader, NULL, chunkname, "t");
    }
    return tide_load_aux(L, status, env);
}

static const char *tide_no_stdin = "%s() without a file name reads standard input, which flows do not have";

static int tide_base_loadfile(lua_State *L) {
    const char *fname = luaL_optstring(L, 1, NULL);
    (void)luaL_optstring(L, 2, NULL);
    int env = (!lua_isnone(L, 3) ? 3 : 0);
    if (fname == NULL)
        return luaL_error(L, tide_no_stdin, "loadfile");
    return tide_load_aux(L, luaL_loadfilex(L, fname, "t"), env);
}

static int tide_dofilecont(lua_State *L, int d1, lua_KContext d2) {
    (void)d1;
    (void)d2;
    return lua_gettop(L) - 1;
}

static int tide_base_dofile(lua_State *L) {
    const char *fname = luaL_optstring(L, 1, NULL);
    if (fname == NULL)
        return luaL_error(L, tide_no_stdin, "dofile");
    lua_settop(L, 1);
    if (luaL_loadfilex(L, fname, "t") != LUA_OK)
        return lua_error(L);
    lua_callk(L, 0, LUA_MULTRET, 0, tide_dofilecont);
    return tide_dofilecont(L, 0, 0);
}

static int tide_base_setmetatable(lua_State *L) {
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    /* finalizers would run inside the engine at any allocation, even after the run has ended */
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        int gc = lua_rawget(L, 2);
        lua_pop(L, 1);
        if (gc != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not available in flows: use a <close> variable to clean up");
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- state */

static int tide_open(lua_State *L) {
    luaL_openlibs(L);
    lua_getglobal(L, "coroutine");
    lua_pushcfunction(L, tide_co_resume);
    lua_setfield(L, -2, "resume");
    lua_pushcfunction(L, tide_co_wrap);
    lua_setfield(L, -2, "wrap");
    lua_getfield(L, -1, "close");
    lua_pushcclosure(L, tide_co_close, 1);
    lua_setfield(L, -2, "close");
    lua_pop(L, 1);
    lua_pushcfunction(L, tide_pcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, tide_xpcall);
    lua_setglobal(L, "xpcall");
    lua_pushcfunction(L, tide_limited);
    lua_setglobal(L, "__tide_limited");  /* the prelude takes it and removes the global */
    static const luaL_Reg sandbox[] = {
        {"load", tide_base_load}, {"loadfile", tide_base_loadfile}, {"dofile", tide_base_dofile},
        {"setmetatable", tide_base_setmetatable}, {NULL, NULL},
    };
    luaL_newlib(L, sandbox);
    lua_setglobal(L, "__tide_sandbox");  /* the prelude installs them and removes the global */
    return 0;
}

tide_vm *tide_vm_new(size_t memory_limit, tide_dispatch_fn dispatch, void *host) {
    pthread_once(&tide_signal_once, tide_install_signal);
    tide_vm *vm = (tide_vm *)calloc(1, sizeof *vm);
    if (vm == NULL)
        return NULL;
    vm->limit = memory_limit;
    vm->dispatch = dispatch;
    vm->host = host;
    vm->L = lua_newstate(tide_alloc, vm);
    if (vm->L == NULL) {
        tide_free_slabs(vm);
        free(vm);
        return NULL;
    }
    lua_atpanic(vm->L, tide_panic);
    tide_set_thread_id(vm->L, 0);
    lua_pushcfunction(vm->L, tide_open);
    if (lua_pcall(vm->L, 0, 0, 0) != LUA_OK) {
        tide_vm_close(vm);
        return NULL;
    }
    return vm;
}

void tide_vm_close(tide_vm *vm) {
    if (vm == NULL)
        return;
    if (vm->L != NULL)
        lua_close(vm->L);
    tide_free_slabs(vm);
    free(vm);
}

lua_State *tide_vm_state(tide_vm *vm) { return vm->L; }
size_t tide_vm_memory_used(tide_vm *vm) { return vm->used; }
size_t tide_vm_memory_limit(tide_vm *vm) { return vm->limit; }
void tide_vm_set_memory_limit(tide_vm *vm, size_t limit) { vm->limit = limit; }

/* ---------------------------------------------------------------- protected helpers */

struct tide_reg_args { const char *name; int fn; int spawn; tide_vm *vm; };

static int tide_register_p(lua_State *L) {
    struct tide_reg_args *a = (struct tide_reg_args *)lua_touserdata(L, 1);
    if (lua_getglobal(L, "__host") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setglobal(L, "__host");
    }
    lua_pushinteger(L, a->fn);
    lua_pushlightuserdata(L, a->vm);
    lua_pushcclosure(L, a->spawn ? tide_spawn_trampoline : tide_trampoline, 2);
    lua_setfield(L, -2, a->name);
    return 0;
}

static int tide_register_any(tide_vm *vm, const char *name, int fn, int spawn) {
    struct tide_reg_args a = { name, fn, spawn, vm };
    lua_pushcfunction(vm->L, tide_register_p);
    lua_pushlightuserdata(vm->L, &a);
    return lua_pcall(vm->L, 1, 0, 0);
}

int tide_vm_register(tide_vm *vm, const char *name, int fn) { return tide_register_any(vm, name, fn, 0); }
int tide_vm_register_spawn(tide_vm *vm, const char *name, int fn) { return tide_register_any(vm, name, fn, 1); }

struct tide_do_args { const char *src; size_t len; const char *chunkname; int nresults; const char *mode; };

static int tide_dostring_p(lua_State *L) {
    struct tide_do_args *a = (struct tide_do_args *)lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (luaL_loadbufferx(L, a->src, a->len, a->chunkname, a->mode) != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, a->nresults);
    return lua_gettop(L);
}

/* Runs C function f(args) in protected mode on the main thread, visible to the watchdog. */
static int tide_protected(tide_vm *vm, lua_CFunction f, void *args, int nresults) {
    lua_State *prev;
    uint64_t since;
    lua_settop(vm->L, 0);
    lua_pushcfunction(vm->L, f);
    lua_pushlightuserdata(vm->L, args);
    tide_enter(vm, vm->L, &prev, &since, 0);
    int status = lua_pcall(vm->L, 1, nresults, 0);
    tide_leave(vm, vm->L, prev, since, 0);
    return status;
}

int tide_vm_dostring(tide_vm *vm, const char *src, size_t len, const char *chunkname, int nresults) {
    struct tide_do_args a = { src, len, chunkname, nresults, "t" };
    return tide_protected(vm, tide_dostring_p, &a, nresults);
}

int tide_vm_dobytecode(tide_vm *vm, const char *code, size_t len, const char *chunkname, int nresults) {
    struct tide_do_args a = { code, len, chunkname, nresults, "b" };
    return tide_protected(vm, tide_dostring_p, &a, nresults);
}

struct tide_dump_buffer { char *data; size_t len, cap; };

static int tide_dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
    struct tide_dump_buffer *b = (struct tide_dump_buffer *)ud;
    (void)L;
    if (b->len + sz > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + sz) cap *= 2;
        char *data = realloc(b->data, cap);
        if (data == NULL) return 1;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, sz);
    b->len += sz;
    return 0;
}

char *tide_compile(const char *src, size_t len, const char *chunkname, size_t *outlen) {
    lua_State *L = luaL_newstate();
    struct tide_dump_buffer b = { NULL, 0, 0 };
    if (L == NULL) return NULL;
    if (luaL_loadbufferx(L, src, len, chunkname, "t") == LUA_OK && lua_dump(L, tide_dump_writer, &b, 0) == 0) {
        *outlen = b.len;
    } else {
        free(b.data);
        b.data = NULL;
    }
    lua_close(L);
    return b.data;
}

struct tide_call_args { const char *global; const char *arg; size_t arglen; int nresults; };

static int tide_call_p(lua_State *L) {
    struct tide_call_args *a = (struct tide_call_args *)lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_getglobal(L, a->global);
    int nargs = 0;
    if (a->arg != NULL) {
        lua_pushlstring(L, a->arg, a->arglen);
        nargs = 1;
    }
    lua_call(L, nargs, a->nresults);
    return lua_gettop(L);
}

int tide_vm_call(tide_vm *vm, const char *global, const char *arg, size_t arglen, int nresults) {
    struct tide_call_args a = { global, arg, arglen, nresults };
    return tide_protected(vm, tide_call_p, &a, nresults);
}

struct tide_release_args { const int *refs; int n; };

static int tide_release_p(lua_State *L) {
    struct tide_release_args *a = (struct tide_release_args *)lua_touserdata(L, 1);
    for (int i = 0; i < a->n; i++)
        luaL_unref(L, LUA_REGISTRYINDEX, a->refs[i]);
    return 0;
}

int tide_vm_release(tide_vm *vm, const int *refs, int n) {
    struct tide_release_args a = { refs, n };
    lua_pushcfunction(vm->L, tide_release_p);
    lua_pushlightuserdata(vm->L, &a);
    return lua_pcall(vm->L, 1, 0, 0);
}


/* One malloc arena for the process: a thread arena grows its heap with one mprotect per top
 * extension (glibc ignores M_TOP_PAD there), a quarter of a 100k-task fan-out in syscalls and
 * page-table work. Small allocations stay per-thread in glibc's tcache. */
void tide_lower_thread_priority(int increment) {
#ifdef __linux__
    pid_t tid = (pid_t)syscall(SYS_gettid);
    errno = 0;
    int current = getpriority(PRIO_PROCESS, (id_t)tid);
    if (current != -1 || errno == 0)
        setpriority(PRIO_PROCESS, (id_t)tid, current + increment);
#else
    (void)increment;
#endif
}

void tide_release_free_memory(void) {
    malloc_trim(0);
}

void tide_use_single_malloc_arena(void) {
    mallopt(M_ARENA_MAX, 1);
}
