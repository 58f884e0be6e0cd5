/*
 * libgametap_q3: preloaded into the unmodified ioq3ded. It interposes dlsym so
 * that the engine receives our wrappers for the game module's dllEntry and
 * vmMain; through them it sees every engine->game call and every game->engine
 * syscall (syscall_relay.c passes those on). This file owns that interposition and the
 * process-level set-up; vclock.c, capture.c and link.c do the rest.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "gt_internal.h"

struct gt_settings gt_cfg;
struct gt_real_fns gt_real;

static gt_dllentry_fn real_dllEntry;
static gt_vmmain_fn real_vmMain;
static char module_path[512];
static int module_checked; /* the daemon accepted the module loaded last */
static int debug_enabled = -1;
static int quitting;

/* ---- messages ---- */

void gt_debug(const char *fmt, ...)
{
    if (debug_enabled < 0) {
        const char *v = getenv("GAMETAP_DEBUG");
        debug_enabled = v && *v && strcmp(v, "0") != 0;
    }
    if (!debug_enabled)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("gametap[debug]: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void gt_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gametap: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- real functions: one block, filled once ---- */

void gt_init_real(void)
{
    if (gt_real.dlsym)
        return;
    /* ioq3ded imports dlsym@GLIBC_2.34; older glibc only has GLIBC_2.2.5. */
    void *(*real)(void *, const char *) = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!real)
        real = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    if (!real) {
        gt_warn("cannot find the real dlsym; the library cannot work");
        abort();
    }
    gt_real.gettimeofday = real(RTLD_NEXT, "gettimeofday");
    gt_real.clock_gettime = real(RTLD_NEXT, "clock_gettime");
    gt_real.time = real(RTLD_NEXT, "time");
    gt_real.select = real(RTLD_NEXT, "select");
    gt_real.usleep = real(RTLD_NEXT, "usleep");
    gt_real.nanosleep = real(RTLD_NEXT, "nanosleep");
    gt_real.dlsym = real; /* last: it marks the block as filled */
}

/* ---- talking to the engine ---- */

intptr_t gt_game_syscall2(intptr_t cmd, intptr_t a, intptr_t b, intptr_t c)
{
    if (!gt_engine_syscall)
        return -1;
    return gt_engine_syscall(cmd, a, b, c);
}

void gt_game_console(const char *text)
{
    char line[1100];
    if (!gt_engine_syscall)
        return;
    snprintf(line, sizeof(line), "%s\n", text);
    gt_engine_syscall(Q3_G_SEND_CONSOLE_COMMAND, (intptr_t)Q3_EXEC_APPEND, (intptr_t)line);
}

void gt_game_quit(const char *why)
{
    if (quitting)
        return;
    quitting = 1;
    gt_warn("%s; ending the game", why);
    if (gt_engine_syscall)
        gt_game_console("quit");
    else
        _exit(1); /* no game module yet: nothing to shut down */
}

/* ---- game module identity ---- */

struct build_id_search {
    const char *path;
    char *out;
    size_t out_size;
};

static void hex_note(const ElfW(Nhdr) *note, char *out, size_t out_size)
{
    const unsigned char *desc = (const unsigned char *)(note + 1) + ((note->n_namesz + 3u) & ~3u);
    size_t n = 0;
    for (uint32_t i = 0; i < note->n_descsz && n + 3 <= out_size; i++)
        n += (size_t)snprintf(out + n, out_size - n, "%02x", desc[i]);
}

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
    struct build_id_search *s = data;
    (void)size;
    if (!info->dlpi_name || strcmp(info->dlpi_name, s->path) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *note = (const ElfW(Nhdr) *)p;
            size_t len = sizeof(*note) + ((note->n_namesz + 3u) & ~3u) + ((note->n_descsz + 3u) & ~3u);
            if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
                memcmp(note + 1, "GNU", 4) == 0 && p + len <= end) {
                hex_note(note, s->out, s->out_size);
                return 1;
            }
            p += len;
        }
    }
    return 1;
}

/* Ask the daemon whether it knows this module; end the game if not. */
static void check_module(int gentity_size, int gclient_size)
{
    char build_id[128] = "", reason[512] = "";
    struct build_id_search s = {module_path, build_id, sizeof(build_id)};
    dl_iterate_phdr(find_build_id, &s);
    if (gt_link_check_module(module_path, build_id, gentity_size, gclient_size, reason,
                             sizeof(reason)) != 0) {
        gt_link_fail(reason[0] ? reason : "the daemon refused the game module");
    }
}

/* ---- the wrappers the engine receives ---- */

/* The syscalls syscall_relay.c hands here (gt_watched_syscalls), with all 15 arguments. */
intptr_t gt_watched_syscall(intptr_t cmd, intptr_t a0, intptr_t a1, intptr_t a2, intptr_t a3,
                            intptr_t a4, intptr_t a5, intptr_t a6, intptr_t a7, intptr_t a8,
                            intptr_t a9, intptr_t a10, intptr_t a11, intptr_t a12, intptr_t a13,
                            intptr_t a14)
{
    switch ((int)cmd) {
    case Q3_G_GET_USERCMD: {
        intptr_t r = gt_engine_syscall(cmd, a0, a1);
        gt_agents_usercmd((int)a0, (uint8_t *)a1);
        gt_usercmds_applied((int)a0, (const uint8_t *)a1);
        return r;
    }
    case Q3_G_PRINT:
        gt_capture_print((const char *)a0);
        break;
    case Q3_G_SET_CONFIGSTRING:
        gt_capture_configstring((int)a0, (const char *)a1);
        break;
    case Q3_G_SEND_CONSOLE_COMMAND:
        gt_capture_command((const char *)a1);
        break;
    case Q3_G_LOCATE_GAME_DATA:
        if (!module_checked && gt_link_alive()) {
            module_checked = 1;
            check_module((int)a2, (int)a4);
        }
        gt_capture_locate((void *)a0, (int)a1, (int)a2, (void *)a3, (int)a4);
        break;
    default:
        break;
    }
    return gt_engine_syscall(cmd, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13,
                             a14);
}

static void wrap_dllEntry(gt_syscall_fn syscall)
{
    gt_engine_syscall = syscall;
    module_checked = 0; /* every (re)load is a new module: check it again */
    real_dllEntry(gt_relay_syscall);
}

static intptr_t wrap_vmMain(int cmd, int a0, int a1, int a2, int a3, int a4, int a5, int a6,
                            int a7, int a8, int a9, int a10, int a11)
{
    intptr_t r;
    switch (cmd) {
    case Q3_VM_GAME_INIT:
        if (gt_cfg.seed)
            a1 = (int)gt_cfg.seed; /* Q3_VM_GAME_INIT's randomSeed feeds the game's srand */
        gt_capture_module_loaded(!a2);
        break;
    case Q3_VM_BOTAI_START_FRAME: /* bots choose their commands here: agents' must be in place */
        gt_agents_gate(gt_capture_frame_no() + 1);
        break;
    case Q3_VM_GAME_RUN_FRAME:
        gt_agents_gate(gt_capture_frame_no() + 1);
        r = real_vmMain(cmd, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
        gt_capture_frame(a0);
        return r;
    case Q3_VM_GAME_SHUTDOWN:
        gt_link_flush();
        break;
    case Q3_VM_GAME_CLIENT_CONNECT:
        gt_usercmds_forget(a0); /* whoever connects sends their first command in full */
        if (a1) /* firstTime: a new connection, not a map change re-connecting a player */
            gt_humans_connect(a0, a2);
        break;
    case Q3_VM_GAME_CLIENT_BEGIN:
        gt_humans_begin(a0);
        break;
    case Q3_VM_GAME_CLIENT_DISCONNECT:
        gt_humans_disconnect(a0);
        gt_usercmds_forget(a0);
        break;
    default:
        break;
    }
    return real_vmMain(cmd, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
}

/* ---- dlsym: hand the engine our wrappers for the game module ---- */

__attribute__((visibility("default"))) void *dlsym(void *handle, const char *name)
{
    gt_init_real();
    void *p = gt_real.dlsym(handle, name);
    if (!p || !gt_cfg.active)
        return p;
    if (strcmp(name, "dllEntry") == 0) {
        real_dllEntry = (gt_dllentry_fn)p;
        return (void *)wrap_dllEntry;
    }
    if (strcmp(name, "vmMain") == 0) {
        Dl_info info;
        real_vmMain = (gt_vmmain_fn)p;
        if (dladdr(p, &info) && info.dli_fname)
            snprintf(module_path, sizeof(module_path), "%s", info.dli_fname);
        gt_debug("wrapping game module %s", module_path);
        return (void *)wrap_vmMain;
    }
    return p;
}

/* ---- process set-up ---- */

__attribute__((constructor)) static void gt_start(void)
{
    gt_init_real();
    if (!gt_link_open_from_env())
        return; /* no daemon: stay inert */
    /* The daemon's death takes the game with it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    const char *parent = getenv("GAMETAP_PARENT_PID");
    if (parent && atoi(parent) != (int)getppid()) {
        gt_warn("the daemon (pid %s) is gone before the game started", parent);
        _exit(1);
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* the daemon reads the console line by line */
    if (gt_cfg.lockstep)
        gt_vclock_start(gt_cfg.epoch_s);
    gt_cfg.active = 1;
}

__attribute__((destructor)) static void gt_stop(void)
{
    quitting = 1; /* the process is ending: a failed flush must not queue a console command */
    if (gt_link_alive())
        gt_link_flush();
}
