/* Agents' observations: views of the world, the teacher, the assembled message. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "gametap_features.h"
#include "observer.h"

static struct q3_view *view_new(void)
{
    struct q3_view *v = calloc(1, sizeof(*v));
    if (v)
        v->frame = -1;
    return v;
}

static void view_free(struct q3_view *v)
{
    if (!v)
        return;
    blobs_free(&v->events);
    free(v);
}

struct q3_observer *q3_observer_new(struct q3_world *w, int frames_per_step, int structured, int features)
{
    struct q3_observer *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->world = w;
    o->frames_per_step = frames_per_step < 1 ? 1 : frames_per_step;
    o->structured = structured;
    o->features = features;
    o->next = w->observers;
    w->observers = o;
    return o;
}

void q3_observer_free(struct q3_observer *o)
{
    if (!o)
        return;
    if (o->world) {
        for (struct q3_observer **p = &o->world->observers; *p; p = &(*p)->next)
            if (*p == o) {
                *p = o->next;
                break;
            }
    }
    view_free(o->world_view);
    for (int i = 0; i < o->n_slots; i++)
        view_free(o->slots[i].view);
    gt_buffer_free(&o->out);
    gt_buffer_free(&o->scratch);
    free(o);
}

int q3_observer_set_slots(struct q3_observer *o, const int *clients, const int *pvs, int n)
{
    if (n < 0 || n > NPLAYERS)
        return -1;
    for (int i = 0; i < n; i++)
        if (clients[i] < -1 || clients[i] >= NPLAYERS)
            return -1;
    struct q3_slot next[NPLAYERS] = {{0}};
    for (int i = 0; i < n; i++) {
        next[i].client = clients[i];
        next[i].pvs = pvs[i] != 0;
        for (int k = 0; k < o->n_slots; k++) /* a slot that stays keeps its view */
            if (o->slots[k].view && o->slots[k].client == clients[i] && clients[i] >= 0) {
                next[i].view = o->slots[k].view;
                o->slots[k].view = NULL;
            }
        if (next[i].pvs && o->structured && !next[i].view && !(next[i].view = view_new()))
            return -1;
        if (!next[i].pvs)
            o->any_full = 1;
    }
    for (int k = 0; k < o->n_slots; k++)
        view_free(o->slots[k].view);
    memcpy(o->slots, next, sizeof(next));
    o->n_slots = n;
    if (o->any_full && o->structured && !o->world_view && !(o->world_view = view_new()))
        return -1;
    return 0;
}

void q3_observer_resync(struct q3_observer *o)
{
    if (o->world_view)
        o->world_view->frame = -1;
    for (int i = 0; i < o->n_slots; i++)
        if (o->slots[i].view)
            o->slots[i].view->frame = -1;
}

static void collect(struct q3_view *v, const struct hp_blobs *events)
{
    if (v && v->frame >= 0)
        blobs_extend(&v->events, events);
}

void q3_observers_collect(struct q3_world *w)
{
    if (!w->events.n)
        return;
    for (struct q3_observer *o = w->observers; o; o = o->next) {
        if (o->frames_per_step > 1)
            collect(o->world_view, &w->events);
        for (int i = 0; i < o->n_slots; i++)
            collect(o->slots[i].view, &w->events);
    }
}

/* ---- views ---- */

static int seen(const uint64_t *visible, int i)
{
    return !visible || bit_test(visible, i);
}

/* A WorldUpdate of the view: a keyframe the first time, then the delta since its last
 * observation (base_frame), limited to `visible` (NULL: everything). */
static void view_update(struct q3_world *w, struct q3_view *v, const uint64_t *visible, struct gt_buffer *out)
{
    if (v->frame < 0) {
        size_t start = pbw_begin(out, PB_WORLD_UPDATE_KEYFRAME);
        q3_state(w, out, visible);
        pbw_end(out, start);
    } else {
        size_t start = pbw_begin(out, PB_WORLD_UPDATE_DELTA);
        pbw_uint(out, PB_WORLD_DELTA_FRAME, w->frame);
        pbw_int32(out, PB_WORLD_DELTA_LEVEL_TIME_MS, w->level_time);
        if (v->match_version != w->match.version)
            pbw_bytes(out, PB_WORLD_DELTA_MATCH, w->match.bytes.data, w->match.bytes.len);
        uint64_t removed[NPLAYERS];
        size_t n_removed = 0;
        for (int c = 0; c < NPLAYERS; c++) {
            uint32_t now = seen(visible, c) ? w->player[c].version : 0;
            if (now && now != v->player_version[c])
                pbw_bytes(out, PB_WORLD_DELTA_PLAYERS, w->player[c].bytes.data, w->player[c].bytes.len);
            else if (!now && v->player_version[c])
                removed[n_removed++] = (uint64_t)c;
        }
        struct gt_buffer removed_entities = {0};
        for (int n = NPLAYERS; n < NENTITIES; n++) {
            uint32_t now = seen(visible, n) ? w->entity[n].version : 0;
            if (now && now != v->entity_version[n])
                pbw_bytes(out, PB_WORLD_DELTA_ENTITIES, w->entity[n].bytes.data, w->entity[n].bytes.len);
            else if (!now && v->entity_version[n])
                pbw_varint(&removed_entities, (uint64_t)n);
        }
        pbw_packed_uint(out, PB_WORLD_DELTA_REMOVED_PLAYERS, removed, n_removed);
        if (removed_entities.len)
            pbw_bytes(out, PB_WORLD_DELTA_REMOVED_ENTITIES, removed_entities.data, removed_entities.len);
        out->failed |= removed_entities.failed;
        gt_buffer_free(&removed_entities);
        blobs_write(out, PB_WORLD_DELTA_EVENTS, &v->events);
        pbw_uint(out, PB_WORLD_DELTA_BASE_FRAME, (uint64_t)v->frame);
        pbw_end(out, start);
    }
    for (int c = 0; c < NPLAYERS; c++)
        v->player_version[c] = seen(visible, c) ? w->player[c].version : 0;
    for (int n = 0; n < NENTITIES; n++)
        v->entity_version[n] = n >= NPLAYERS && seen(visible, n) ? w->entity[n].version : 0;
    v->match_version = w->match.version;
    v->frame = w->frame;
    blobs_clear(&v->events);
}

/* The FULL view of a stream observed every frame: the match's own per-frame delta. */
static void frame_delta_update(struct q3_world *w, struct q3_view *v, struct gt_buffer *out)
{
    int consecutive = v->frame >= 0 && (uint64_t)v->frame + 1 == w->frame;
    v->frame = w->frame;
    if (consecutive && w->delta_frame == w->frame) {
        pbw_raw(out, w->delta.data, w->delta.len);
        return;
    }
    size_t start = pbw_begin(out, PB_WORLD_UPDATE_KEYFRAME);
    q3_state(w, out, NULL);
    pbw_end(out, start);
}

/* ---- the teacher: the bot AI's command in agent terms ---- */

static float short_to_degrees(int64_t units)
{
    double degrees = (double)(units & 0xFFFF) * 360.0 / 65536;
    return (float)(degrees > 180.0 ? degrees - 360.0 : degrees);
}

static void write_teacher(struct gt_buffer *b, const struct q3_world *w, int client)
{
    const uint8_t *cmd = w->teacher[client];
    const int32_t *delta = w->pvalue[client].delta_angles;
    int8_t forward = (int8_t)cmd[Q3_CMD_FORWARDMOVE], right = (int8_t)cmd[Q3_CMD_RIGHTMOVE];
    int8_t up = (int8_t)cmd[Q3_CMD_UPMOVE];
    uint8_t weapon = cmd[Q3_CMD_WEAPON];
    double jump = up / 127.0;
    size_t start = pbw_begin(b, PB_SLOT_OBSERVATION_TEACHER);
    pbw_int32(b, PB_ACTION_CLIENT, client);
    pbw_float(b, PB_ACTION_FORWARD, (float)(forward / 127.0));
    pbw_float(b, PB_ACTION_STRAFE, (float)(right / 127.0));
    pbw_float(b, PB_ACTION_JUMP, (float)(jump > 1.0 ? 1.0 : jump < -1.0 ? -1.0 : jump));
    pbw_float(b, PB_ACTION_YAW, short_to_degrees((int64_t)rd_i32(cmd + Q3_CMD_ANGLES + 4) + delta[1]));
    pbw_float(b, PB_ACTION_PITCH, short_to_degrees((int64_t)rd_i32(cmd + Q3_CMD_ANGLES) + delta[0]));
    pbw_uint(b, PB_ACTION_ATTACK, (rd_i32(cmd + Q3_CMD_BUTTONS) & Q3_BUTTON_ATTACK) != 0);
    pbw_int32(b, PB_ACTION_WEAPON, weapon < Q3_NUM_WEAPONS ? weapon : 0);
    pbw_end(b, start);
}

/* ---- the observation ---- */

/* What a PVS slot's player can see: the entities the game reported, and itself. */
static const uint64_t *slot_visible(const struct q3_world *w, const struct q3_slot *s, uint64_t *set)
{
    if (!s->pvs)
        return NULL;
    memcpy(set, w->visible[s->client], sizeof(w->visible[s->client]));
    bit_set(set, s->client);
    return set;
}

void q3_observer_observe(struct q3_observer *o, int final, uint32_t game_us, const int *left, int n_left)
{
    struct q3_world *w = o->world;
    struct gt_buffer *b = &o->out;
    uint64_t t = hp_now_ns();
    b->len = 0;
    size_t start = pbw_begin(b, PB_PLAY_RESPONSE_OBSERVATION);
    pbw_uint(b, PB_OBSERVATION_FRAME, w->frame);
    pbw_int32(b, PB_OBSERVATION_LEVEL_TIME_MS, w->level_time);
    if (o->world_view) {
        size_t view = pbw_begin(b, PB_OBSERVATION_WORLD);
        if (o->frames_per_step == 1)
            frame_delta_update(w, o->world_view, b);
        else
            view_update(w, o->world_view, NULL, b);
        pbw_end(b, view);
    }
    uint64_t set[BITSET_WORDS(NENTITIES)];
    for (int i = 0; i < o->n_slots; i++) {
        const struct q3_slot *s = &o->slots[i];
        if (s->client < 0)
            continue;
        size_t slot = pbw_begin(b, PB_OBSERVATION_SLOTS);
        pbw_int32(b, PB_SLOT_OBSERVATION_CLIENT, s->client);
        if (s->view) {
            size_t view = pbw_begin(b, PB_SLOT_OBSERVATION_VIEW);
            view_update(w, s->view, slot_visible(w, s, set), b);
            pbw_end(b, view);
        }
        if (w->teacher_seen[s->client] && w->row_present[s->client]) {
            write_teacher(b, w, s->client);
            pbw_uint(b, PB_SLOT_OBSERVATION_HAS_TEACHER, 1);
        }
        pbw_end(b, slot);
    }
    pbw_uint(b, PB_OBSERVATION_FINAL, final != 0);
    uint64_t gone[NPLAYERS];
    for (int i = 0; i < n_left && i < NPLAYERS; i++)
        gone[i] = (uint64_t)(int64_t)left[i];
    pbw_packed_uint(b, PB_OBSERVATION_LEFT, gone, n_left < NPLAYERS ? (size_t)n_left : NPLAYERS);
    pbw_uint(b, PB_OBSERVATION_GAME_US, game_us);
    hp_time(ST_OBSERVE, &t);
    if (o->features) {
        size_t rows = pbw_begin(b, PB_OBSERVATION_FEATURES);
        float row[FEAT_SIZE];
        for (int i = 0; i < o->n_slots; i++) {
            const struct q3_slot *s = &o->slots[i];
            if (s->client < 0)
                continue;
            q3_features(w, s->client, slot_visible(w, s, set), row);
            pbw_raw(b, row, sizeof(row));
        }
        pbw_end(b, rows);
        hp_time(ST_FEATURES, &t);
    }
    pbw_end(b, start);
}
