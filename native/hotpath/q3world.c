/*
 * Applying the game's frames to a match's world (see q3world.h). The rules are the
 * ones the proto documents (proto/gametap/q3/v1/world.proto): a delta holds the
 * complete records of what changed, the records removed, and the frame's events;
 * a record whose serialized form did not change is not sent again.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "observer.h"

/* ---- world lifetime ---- */

void q3_world_init(struct q3_world *w, int keyframe_interval, int record)
{
    memset(w, 0, sizeof(*w));
    w->keyframe_interval = keyframe_interval < 1 ? 1 : keyframe_interval;
    w->record = record;
    w->next_version = 1;
}

void q3_world_free(struct q3_world *w)
{
    for (int i = 0; i < Q3_MAX_CONFIGSTRINGS; i++)
        free(w->cs[i]);
    for (int c = 0; c < NPLAYERS; c++) {
        gt_buffer_free(&w->info[c].name);
        gt_buffer_free(&w->player[c].bytes);
    }
    for (int n = 0; n < NENTITIES; n++)
        gt_buffer_free(&w->entity[n].bytes);
    gt_buffer_free(&w->match.bytes);
    blobs_free(&w->events);
    struct gt_buffer *bufs[] = {&w->log_carry, &w->exit_reason, &w->delta, &w->keyframe, &w->records,
                                &w->scratch, &w->scratch2, &w->part[0], &w->part[1], &w->part[2]};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        gt_buffer_free(bufs[i]);
}

int q3_player_present(const struct q3_world *w, int client)
{
    return client >= 0 && client < NPLAYERS && w->player[client].version != 0;
}

void q3_set_controller(struct q3_world *w, int client, int32_t controller)
{
    if (client < 0 || client >= NPLAYERS)
        return;
    w->controller[client] = controller;
    w->restamp |= 1ull << client;
    w->teacher_seen[client] = w->has_visible[client] = 0; /* a new driver: nothing of the last one's */
}

/* ---- agents' inputs ---- */

/* Copies n checked gt_usercmd_record_t into cmds, marking each client in has; the clients, as a mask. */
static uint64_t take_usercmds(const uint8_t *records, uint16_t n, uint8_t (*cmds)[Q3_CMD_SIZE], uint8_t *has)
{
    uint64_t clients = 0;
    for (uint16_t i = 0; i < n; i++) {
        const uint8_t *rec = records + (size_t)i * sizeof(gt_usercmd_record_t);
        int client = rd_u16(rec);
        memcpy(cmds[client], rec + offsetof(gt_usercmd_record_t, usercmd), Q3_CMD_SIZE);
        has[client] = 1;
        clients |= 1ull << client;
    }
    return clients;
}

/* The agents' slots whose teacher or visibility came: their Player records show them. */
static uint64_t take_agent_inputs(struct q3_world *w, const struct q3_frame *f)
{
    uint64_t touched = take_usercmds(f->usercmds, f->n_usercmds, w->teacher, w->teacher_seen);
    const uint8_t *p = f->visibility;
    for (uint16_t i = 0; i < f->n_visibility; i++) {
        int client = rd_u16(p), count = rd_u16(p + 2);
        memset(w->visible[client], 0, sizeof(w->visible[client]));
        for (int k = 0; k < count; k++)
            bit_set(w->visible[client], rd_u16(p + 4 + 2 * k));
        w->has_visible[client] = 1;
        touched |= 1ull << client;
        p += 4 + 2 * (size_t)count;
    }
    return touched;
}

/* ---- assembling updates ---- */

static void append_record(struct q3_world *w, const struct gt_buffer *payload);

void q3_state(struct q3_world *w, struct gt_buffer *out, const uint64_t *visible)
{
    pbw_uint(out, PB_WORLD_STATE_FRAME, w->frame);
    pbw_int32(out, PB_WORLD_STATE_LEVEL_TIME_MS, w->level_time);
    if (w->match.bytes.len)
        pbw_bytes(out, PB_WORLD_STATE_MATCH, w->match.bytes.data, w->match.bytes.len);
    for (int c = 0; c < NPLAYERS; c++)
        if (w->player[c].version && (!visible || bit_test(visible, c)))
            pbw_bytes(out, PB_WORLD_STATE_PLAYERS, w->player[c].bytes.data, w->player[c].bytes.len);
    for (int n = NPLAYERS; n < NENTITIES; n++)
        if (w->entity[n].version && (!visible || bit_test(visible, n)))
            pbw_bytes(out, PB_WORLD_STATE_ENTITIES, w->entity[n].bytes.data, w->entity[n].bytes.len);
    blobs_write(out, PB_WORLD_STATE_EVENTS, &w->events);
}

void q3_keyframe_update(struct q3_world *w, struct gt_buffer *out, int count)
{
    size_t start = pbw_begin(out, PB_WORLD_UPDATE_KEYFRAME);
    q3_state(w, out, NULL);
    if (count) {
        w->stats.keyframes++;
        w->stats.keyframe_bytes += out->len - start;
    }
    pbw_end(out, start);
}

int q3_apply_frame(struct q3_world *w, const struct q3_frame *f)
{
    if (w->level_exited || q3_is_level_exit(f)) {
        w->level_exited = 1; /* the frame that ends the level zeroes the scores for the next: keep the last */
        return 0;
    }
    uint64_t t = hp_now_ns();
    int reset = (f->flags & GT_FRAME_RESET) != 0;
    uint64_t old_players = 0, old_entities[BITSET_WORDS(NENTITIES)] = {0};
    if (reset) {
        for (int c = 0; c < NPLAYERS; c++)
            if (w->player[c].version)
                old_players |= 1ull << c;
        for (int n = 0; n < NENTITIES; n++)
            if (w->entity[n].version)
                bit_set(old_entities, n);
        for (int i = 0; i < Q3_MAX_CONFIGSTRINGS; i++) {
            free(w->cs[i]);
            w->cs[i] = NULL;
            w->cs_len[i] = 0;
        }
        for (int c = 0; c < NPLAYERS; c++)
            w->info[c].present = w->row_present[c] = 0;
    }
    w->frame = f->frame;
    w->level_time = f->level_time;
    blobs_clear(&w->events);
    int match_dirty = reset;
    uint64_t touched = f->n_configstrings ? q3_apply_configstrings(w, f, &match_dirty) : 0;
    hp_time(ST_TEXT, &t);

    for (uint16_t i = 0; i < f->n_players; i++) {
        const uint8_t *rec = f->players + (size_t)i * sizeof(gt_player_record_t);
        int client = rd_u16(rec);
        memcpy(w->ps[client], rec + offsetof(gt_player_record_t, ps), Q3_PS_SIZE);
        w->row_present[client] = 1;
        touched |= 1ull << client;
    }
    touched |= take_usercmds(f->applied, f->n_applied, w->cmd, w->has_cmd);
    touched |= old_players | w->restamp | take_agent_inputs(w, f);
    w->restamp = 0;
    struct gt_buffer *players = &w->part[0], *entities = &w->part[1], *removed_entities = &w->part[2];
    players->len = entities->len = removed_entities->len = 0;
    uint64_t removed_players[NPLAYERS];
    size_t n_removed = 0;
    q3_update_players(w, touched, players, removed_players, &n_removed);
    hp_time(ST_PLAYERS, &t);
    q3_update_entities(w, f, reset ? old_entities : NULL, entities, removed_entities);
    hp_time(ST_ENTITIES, &t);
    if (f->log_size)
        q3_log_events(w, f);
    int match_changed = q3_update_match(w, match_dirty);
    q3_observers_collect(w);
    hp_time(ST_TEXT, &t);

    struct gt_buffer *d = &w->delta;
    d->len = 0;
    size_t start = pbw_begin(d, PB_WORLD_UPDATE_DELTA);
    pbw_uint(d, PB_WORLD_DELTA_FRAME, w->frame);
    pbw_int32(d, PB_WORLD_DELTA_LEVEL_TIME_MS, w->level_time);
    if (match_changed)
        pbw_bytes(d, PB_WORLD_DELTA_MATCH, w->match.bytes.data, w->match.bytes.len);
    pbw_raw(d, players->data, players->len);
    pbw_raw(d, entities->data, entities->len);
    pbw_packed_uint(d, PB_WORLD_DELTA_REMOVED_PLAYERS, removed_players, n_removed);
    if (removed_entities->len)
        pbw_bytes(d, PB_WORLD_DELTA_REMOVED_ENTITIES, removed_entities->data, removed_entities->len);
    blobs_write(d, PB_WORLD_DELTA_EVENTS, &w->events);
    w->stats.delta_bytes += d->len - start;
    pbw_end(d, start);
    w->stats.frames++;
    w->delta_frame = w->frame;

    w->has_keyframe = reset || w->frame % (uint32_t)w->keyframe_interval == 0;
    w->keyframe.len = 0;
    if (w->has_keyframe)
        q3_keyframe_update(w, &w->keyframe, 1);
    if (w->record) {
        append_record(w, &w->delta);
        if (w->has_keyframe)
            append_record(w, &w->keyframe);
    }
    hp_time(ST_ASSEMBLE, &t);
    return 1;
}

/* A recording record: [u32 length][u32 crc32][payload] (server/gametap/recording.py). */
static void append_record(struct q3_world *w, const struct gt_buffer *payload)
{
    uint32_t head[2] = {(uint32_t)payload->len, hp_crc32(payload->data, payload->len)};
    gt_buffer_append(&w->records, head, sizeof(head));
    gt_buffer_append(&w->records, payload->data, payload->len);
}
