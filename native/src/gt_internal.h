/* Shared declarations of libgametap_q3's parts (not an installed header). */
#ifndef GT_INTERNAL_H
#define GT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gametap_link.h"

/* ---- engine <-> game module ABI (ioquake3 g_public.h; docs/abi.md) ---- */
typedef intptr_t (*gt_syscall_fn)(intptr_t cmd, ...);
typedef intptr_t (*gt_vmmain_fn)(int cmd, int a0, int a1, int a2, int a3, int a4, int a5,
                                 int a6, int a7, int a8, int a9, int a10, int a11);
typedef void (*gt_dllentry_fn)(gt_syscall_fn syscall);

/* ---- the game's syscalls (syscall_relay.c) ---- */
extern gt_syscall_fn gt_engine_syscall;   /* the engine's own, from dllEntry */
intptr_t gt_relay_syscall(intptr_t cmd, ...); /* what the game calls instead */
extern const uint64_t gt_watched_syscalls; /* bit n: syscall n goes to gt_watched_syscall */
intptr_t gt_watched_syscall(intptr_t cmd, intptr_t a0, intptr_t a1, intptr_t a2, intptr_t a3,
                            intptr_t a4, intptr_t a5, intptr_t a6, intptr_t a7, intptr_t a8,
                            intptr_t a9, intptr_t a10, intptr_t a11, intptr_t a12, intptr_t a13,
                            intptr_t a14); /* shim.c */

/* vmMain commands and syscall numbers: Q3_VM_*, Q3_G_* in the generated gametap_q3_abi.h. */

#include "gt_buffer.h" /* growable byte buffers (buffer.c) */

/* ---- run settings, from the daemon's WELCOME ---- */
struct gt_settings {
    int active;          /* a link to the daemon exists */
    int lockstep;        /* virtual clock (else wall clock) */
    int capture;         /* send records (else frame headers only) */
    uint32_t seed;       /* replaces GAME_INIT's random seed when non-zero */
    int64_t epoch_s;     /* virtual clock start, seconds since 1970 */
    uint64_t max_frames; /* stop after this frame; 0 = never */
    uint32_t flush_frames; /* send buffered frames at least this often */
    uint32_t run_until;    /* LOCKSTEP: the last frame the game may run before waiting */
};
extern struct gt_settings gt_cfg;

/* ---- real libc functions, filled once by gt_init_real() ---- */
struct gt_real_fns {
    void *(*dlsym)(void *handle, const char *name);
    int (*gettimeofday)(struct timeval *tv, void *tz);
    int (*clock_gettime)(clockid_t clk, struct timespec *ts);
    time_t (*time)(time_t *t);
    int (*select)(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv);
    int (*usleep)(useconds_t us);
    int (*nanosleep)(const struct timespec *req, struct timespec *rem);
};
extern struct gt_real_fns gt_real;
void gt_init_real(void);

/* ---- messages: debug log only with GAMETAP_DEBUG set; warnings always ---- */
void gt_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- virtual clock (vclock.c) ---- */
void gt_vclock_start(int64_t epoch_s);

/* ---- link to the daemon (link.c) ---- */
int gt_link_open_from_env(void); /* 0 = no link configured; exits the process on handshake failure */
int gt_link_alive(void);
int gt_link_send(uint16_t type, const void *payload, uint32_t size); /* buffered */
int gt_link_send_parts(uint16_t type, const void *a, uint32_t alen, const void *b, uint32_t blen);
int gt_link_flush(void);
void gt_link_poll(int timeout_ms); /* read and dispatch what the daemon sent; 0 = do not wait */
int gt_link_check_module(const char *path, const char *build_id, int gentity_size,
                         int gclient_size, char *reason, size_t reason_size);
void gt_link_end(const char *reason, uint32_t frame);
void gt_link_fail(const char *why);

/* ---- the game (shim.c) ---- */
void gt_game_console(const char *text); /* queue a server console command */
void gt_game_quit(const char *why);     /* end the game cleanly, once */
intptr_t gt_game_syscall2(intptr_t cmd, intptr_t a, intptr_t b, intptr_t c);

/* ---- the game's data, as the game last located it (capture.c) ---- */
struct gt_game_data {
    uint8_t *gents;
    int num_gents, gent_size;
    uint8_t *gclients;
    int gclient_size, max_clients;
};
const struct gt_game_data *gt_game_data(void);

/* ---- agents: lockstep gate, usercmd overrides, teacher, visibility (agents.c) ---- */
int gt_agents_control(const uint8_t *payload, uint32_t size); /* 0, or -1 if malformed */
void gt_agents_usercmd(int client, uint8_t *usercmd); /* after the engine filled it */
void gt_agents_gate(uint32_t next_frame);
int gt_agents_observed_frame(uint32_t frame); /* the daemon will look at this frame */
void gt_agents_frame_records(struct gt_buffer *out, int visibility, uint16_t *n_usercmds,
                             uint16_t *n_visibility);

/* ---- stock clients' connection attempts (humans.c) ---- */
void gt_humans_connect(int client, int is_bot); /* before the game's ClientConnect */
void gt_humans_begin(int client);
void gt_humans_disconnect(int client);

/* ---- every player's command as the game applied it (usercmds.c) ---- */
void gt_usercmds_applied(int client, const uint8_t *usercmd); /* after the agents' rewrite */
void gt_usercmds_forget(int client);                          /* the slot (dis)connected */
void gt_usercmds_reset(void);                                 /* a game module (re)load */
uint16_t gt_usercmds_frame_records(struct gt_buffer *out);    /* the changed ones; how many */

/* ---- capture (capture.c) ---- */
uint32_t gt_capture_frame_no(void);
void gt_capture_module_loaded(int fresh_map);
void gt_capture_locate(void *gents, int num, int gsize, void *clients, int csize);
void gt_capture_configstring(int index, const char *text);
void gt_capture_print(const char *text);
void gt_capture_command(const char *text);
void gt_capture_frame(int level_time);
int gt_capture_stopped(void);

#endif
