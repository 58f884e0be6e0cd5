/*
 * Agents: what lets the daemon's agents play. In LOCKSTEP the game waits at a
 * gate before each frame the daemon has not released yet; a slot an agent
 * drives gets the agent's command in place of its bot AI's (whose choice is
 * kept and sent as the teacher); and slots that asked for it report which
 * entities their player could see, by the engine's own PVS test.
 */
#define _GNU_SOURCE
#include <string.h>

#include "gt_internal.h"

/* Offsets in gentity_t of the entityShared_t fields used here (docs/abi.md). */
#define ENT_LINKED (Q3_GENTITY_SHARED_OFFSET + Q3_ESH_LINKED)
#define ENT_SVFLAGS (Q3_GENTITY_SHARED_OFFSET + Q3_ESH_SVFLAGS)
#define ENT_CURRENT_ORIGIN (Q3_GENTITY_SHARED_OFFSET + Q3_ESH_CURRENTORIGIN)

static gt_action_record_t action[GT_MAX_CLIENTS];
static uint8_t teacher[GT_MAX_CLIENTS][GT_USERCMD_SIZE];
static uint8_t teacher_seen[GT_MAX_CLIENTS];

int gt_agents_control(const uint8_t *payload, uint32_t size)
{
    gt_control_header_t h;
    if (size < sizeof(h))
        return -1;
    memcpy(&h, payload, sizeof(h));
    if (h.reserved != 0 || size != sizeof(h) + (uint32_t)h.n_actions * sizeof(gt_action_record_t))
        return -1;
    for (uint16_t i = 0; i < h.n_actions; i++) {
        gt_action_record_t a;
        memcpy(&a, payload + sizeof(h) + i * sizeof(a), sizeof(a));
        if (a.client >= GT_MAX_CLIENTS || a.reserved != 0 ||
            (a.flags & ~(GT_ACTION_OVERRIDE | GT_ACTION_VISIBILITY)))
            return -1;
        action[a.client] = a;
        if (!(a.flags & GT_ACTION_OVERRIDE))
            teacher_seen[a.client] = 0;
    }
    gt_cfg.run_until = h.run_until;
    return 0;
}

static int32_t read_i32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

void gt_agents_usercmd(int client, uint8_t *cmd)
{
    if (client < 0 || client >= GT_MAX_CLIENTS || !(action[client].flags & GT_ACTION_OVERRIDE))
        return;
    const struct gt_game_data *g = gt_game_data();
    if (!g->gclients)
        return;
    const gt_action_record_t *a = &action[client];
    const uint8_t *ps = g->gclients + (size_t)client * (size_t)g->gclient_size;
    memcpy(teacher[client], cmd, GT_USERCMD_SIZE);
    teacher_seen[client] = 1;
    for (int i = 0; i < 3; i++) { /* the game adds delta_angles to what the command says */
        int32_t angle = (int32_t)a->angles[i] - read_i32(ps + Q3_PS_DELTA_ANGLES + 4 * i);
        memcpy(cmd + Q3_CMD_ANGLES + 4 * i, &angle, sizeof(angle));
    }
    int32_t buttons = a->buttons;
    memcpy(cmd + Q3_CMD_BUTTONS, &buttons, sizeof(buttons));
    cmd[Q3_CMD_WEAPON] = a->weapon;
    memcpy(cmd + Q3_CMD_FORWARDMOVE, &a->forward, 3); /* forwardmove, rightmove, upmove */
}

static uint64_t wall_us(void)
{
    struct timespec ts; /* the real clock: in LOCKSTEP the game's clock is virtual */
    gt_real.clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void gt_agents_gate(uint32_t next_frame)
{
    static uint64_t released_at;
    if (!gt_cfg.lockstep || next_frame <= gt_cfg.run_until || gt_capture_stopped() ||
        !gt_link_alive())
        return;
    uint64_t busy = released_at ? wall_us() - released_at : 0;
    gt_waiting_t w = {next_frame - 1, busy > UINT32_MAX ? UINT32_MAX : (uint32_t)busy};
    gt_link_send(GT_MSG_WAITING, &w, sizeof(w));
    gt_link_flush();
    while (next_frame > gt_cfg.run_until && gt_link_alive())
        gt_link_poll(-1);
    released_at = wall_us();
}

int gt_agents_observed_frame(uint32_t frame)
{
    return !gt_cfg.lockstep || frame == gt_cfg.run_until;
}

static int in_pvs(const float *eye, const uint8_t *point)
{
    float p[3];
    memcpy(p, point, sizeof(p));
    return (int)gt_game_syscall2(Q3_G_IN_PVS, (intptr_t)eye, (intptr_t)p, 0);
}

/* {client, count, numbers...} of what this slot's player could see. */
static void visibility_record(struct gt_buffer *out, const struct gt_game_data *g, int client)
{
    const uint8_t *ps = g->gclients + (size_t)client * (size_t)g->gclient_size;
    float eye[3];
    memcpy(eye, ps + Q3_PS_ORIGIN, sizeof(eye));
    eye[2] += (float)read_i32(ps + Q3_PS_VIEWHEIGHT);
    size_t head = out->len;
    uint16_t rec[2] = {(uint16_t)client, 0};
    gt_buffer_append(out, rec, sizeof(rec));
    for (int i = 0; i < g->num_gents; i++) {
        const uint8_t *e = g->gents + (size_t)i * (size_t)g->gent_size;
        if (i == client || (i >= g->max_clients && i < GT_MAX_CLIENTS) ||
            !read_i32(e + ENT_LINKED) || (read_i32(e + ENT_SVFLAGS) & Q3_SVF_NOCLIENT))
            continue;
        const uint8_t *point = i < GT_MAX_CLIENTS /* a player: where its playerState says */
            ? g->gclients + (size_t)i * (size_t)g->gclient_size + Q3_PS_ORIGIN
            : e + ENT_CURRENT_ORIGIN;
        if (in_pvs(eye, point)) {
            uint16_t n = (uint16_t)i;
            gt_buffer_append(out, &n, sizeof(n));
            rec[1]++;
        }
    }
    memcpy(out->data + head, rec, sizeof(rec));
}

void gt_agents_frame_records(struct gt_buffer *out, int visibility, uint16_t *n_usercmds,
                             uint16_t *n_visibility)
{
    const struct gt_game_data *g = gt_game_data();
    *n_usercmds = *n_visibility = 0;
    for (int c = 0; c < GT_MAX_CLIENTS; c++) {
        if (!teacher_seen[c])
            continue;
        gt_usercmd_record_t rec = {(uint16_t)c, 0, {0}};
        memcpy(rec.usercmd, teacher[c], GT_USERCMD_SIZE);
        gt_buffer_append(out, &rec, sizeof(rec));
        teacher_seen[c] = 0;
        (*n_usercmds)++;
    }
    if (!visibility || !g->gents || !g->gclients)
        return;
    for (int c = 0; c < g->max_clients; c++) {
        if (action[c].flags & GT_ACTION_VISIBILITY) {
            visibility_record(out, g, c);
            (*n_visibility)++;
        }
    }
}
