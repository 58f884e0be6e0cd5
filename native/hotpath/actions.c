/*
 * Agents' actions -> the CONTROL records the game applies (gametap_link.h).
 * An ActionBatch arrives as the bytes the client sent; it is parsed here as the
 * protobuf wire format defines (unknown fields skipped, the last value of a field
 * wins) and every action is checked before any record is made.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "observer.h"

struct action {
    int32_t client, weapon;
    float forward, strafe, jump, yaw, pitch;
    int attack;
};

static float as_float(uint64_t bits)
{
    uint32_t u = (uint32_t)bits;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int parse_action(const uint8_t *p, size_t n, struct action *a)
{
    struct pbr r = {p, p + n};
    int field, wt, got;
    uint64_t v = 0;
    const uint8_t *data;
    size_t len;
    memset(a, 0, sizeof(*a));
    while ((got = pbr_next(&r, &field, &wt, &v, &data, &len)) > 0) {
        if (wt == WT_VARINT) {
            if (field == PB_ACTION_CLIENT)
                a->client = (int32_t)(uint32_t)v;
            else if (field == PB_ACTION_ATTACK)
                a->attack = v != 0;
            else if (field == PB_ACTION_WEAPON)
                a->weapon = (int32_t)(uint32_t)v;
        } else if (wt == WT_I32) {
            float f = as_float(v);
            if (field == PB_ACTION_FORWARD)
                a->forward = f;
            else if (field == PB_ACTION_STRAFE)
                a->strafe = f;
            else if (field == PB_ACTION_JUMP)
                a->jump = f;
            else if (field == PB_ACTION_YAW)
                a->yaw = f;
            else if (field == PB_ACTION_PITCH)
                a->pitch = f;
        } /* anything else: a field this version does not know */
    }
    return got;
}

/* The shortest decimal that reads back as v, as Python's repr(float) prints it. */
static void format_double(char *out, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(out, size, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v < 0 ? "-inf" : "inf");
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, size, "%.*g", digits, v);
        if (strtod(out, NULL) == v)
            break;
    }
    if (!strpbrk(out, ".en")) /* "1" -> "1.0", as repr does */
        strncat(out, ".0", size - strlen(out) - 1);
}

static void slot_list(const struct q3_observer *o, char *out, size_t size)
{
    int clients[NPLAYERS], n = 0;
    for (int i = 0; i < o->n_slots; i++)
        if (o->slots[i].client >= 0)
            clients[n++] = o->slots[i].client;
    for (int i = 1; i < n; i++) /* sorted, as the message lists them */
        for (int k = i; k > 0 && clients[k - 1] > clients[k]; k--) {
            int t = clients[k];
            clients[k] = clients[k - 1];
            clients[k - 1] = t;
        }
    size_t pos = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < n && pos < size; i++)
        pos += (size_t)snprintf(out + pos, size - pos, i ? ", %d" : "%d", clients[i]);
    if (pos < size)
        snprintf(out + pos, size - pos, "]");
}

static int slot_of(const struct q3_observer *o, int32_t client)
{
    for (int i = 0; i < o->n_slots; i++)
        if (client >= 0 && o->slots[i].client == client)
            return i;
    return -1;
}

static int move_units(float v)
{
    double d = rint((double)v * 127);
    return d > 127 ? 127 : d < -127 ? -127 : (int)d;
}

static uint16_t angle_units(double degrees)
{
    return (uint16_t)((int64_t)(degrees * 65536 / 360) & 0xFFFF);
}

#define REFUSE(i, name, ...)                                               \
    do {                                                                   \
        snprintf(field, field_size, "%s[%d].%s", list, (int)(i), name);    \
        snprintf(message, message_size, __VA_ARGS__);                      \
        return -1;                                                         \
    } while (0)

/* list: what the caller calls the i-th action in errors ("actions" or "action_rows") */
static int check_action(const struct q3_observer *o, const char *list, int i, const struct action *a,
                        const uint64_t *seen, char *field, size_t field_size, char *message, size_t message_size)
{
    char text[64], slots[400];
    if (a->client >= 0 && a->client < NPLAYERS && bit_test(seen, a->client))
        REFUSE(i, "client", "a second action for client %d in one step", a->client);
    if (slot_of(o, a->client) < 0) {
        slot_list(o, slots, sizeof(slots));
        REFUSE(i, "client", "%d is not one of this stream's slots %s", a->client, slots);
    }
    const float axes[3] = {a->forward, a->strafe, a->jump};
    static const char *const names[3] = {"forward", "strafe", "jump"};
    for (int k = 0; k < 3; k++)
        if (!(axes[k] >= -1.0f && axes[k] <= 1.0f)) { /* NaN fails too */
            format_double(text, sizeof(text), axes[k]);
            REFUSE(i, names[k], "%s is outside -1..1", text);
        }
    if (!(fabs((double)a->yaw) <= 1e6)) {
        format_double(text, sizeof(text), a->yaw);
        REFUSE(i, "yaw", "%s is not an angle within +-1e+06 degrees", text);
    }
    if (!(fabs((double)a->pitch) <= 90.0)) {
        format_double(text, sizeof(text), a->pitch);
        REFUSE(i, "pitch", "%s is not an angle within +-90 degrees", text);
    }
    if (a->weapon < 0 || a->weapon >= Q3_NUM_WEAPONS)
        REFUSE(i, "weapon", "%d is not a Weapon", a->weapon);
    return 0;
}

static void append_record(struct gt_buffer *b, int client, int pvs, int weapon, int forward, int right, int up,
                          int buttons, uint16_t pitch, uint16_t yaw)
{
    gt_action_record_t rec = {0};
    rec.client = (uint8_t)client;
    rec.flags = GT_ACTION_OVERRIDE | (pvs ? GT_ACTION_VISIBILITY : 0);
    rec.weapon = (uint8_t)weapon;
    rec.forward = (int8_t)forward;
    rec.right = (int8_t)right;
    rec.up = (int8_t)up;
    rec.buttons = (uint16_t)buttons;
    rec.angles[0] = pitch;
    rec.angles[1] = yaw;
    gt_buffer_append(b, &rec, sizeof(rec));
}

static void append_action(struct gt_buffer *out, const struct q3_observer *o, const struct action *a)
{
    int pvs = o->slots[slot_of(o, a->client)].pvs;
    append_record(out, a->client, pvs, a->weapon, move_units(a->forward), move_units(a->strafe),
                  move_units(a->jump), a->attack ? Q3_BUTTON_ATTACK : 0, angle_units(a->pitch),
                  angle_units(a->yaw));
}

int q3_observer_actions(struct q3_observer *o, const uint8_t *p, size_t n, uint64_t *frame, char *field,
                        size_t field_size, char *message, size_t message_size)
{
    uint64_t t = hp_now_ns();
    struct pbr r = {p, p + n};
    int f, wt, got, i = 0;
    uint64_t v = 0, seen[BITSET_WORDS(NPLAYERS)] = {0};
    const uint8_t *data;
    size_t len;
    struct gt_buffer *out = &o->out;
    out->len = 0;
    *frame = 0;
    while ((got = pbr_next(&r, &f, &wt, &v, &data, &len)) > 0) {
        if (f == PB_ACTION_BATCH_FRAME && wt == WT_VARINT) {
            *frame = v;
        } else if (f == PB_ACTION_BATCH_ACTIONS && wt == WT_LEN) {
            struct action a;
            if (parse_action(data, len, &a) < 0) {
                got = -1;
                break;
            }
            if (check_action(o, "actions", i, &a, seen, field, field_size, message, message_size))
                return -1;
            bit_set(seen, a.client);
            append_action(out, o, &a);
            i++;
        }
    }
    if (got < 0) {
        snprintf(field, field_size, "act");
        snprintf(message, message_size, "the ActionBatch is not valid protobuf");
        return -1;
    }
    hp_time(ST_ACTIONS, &t);
    return 0;
}

int q3_observer_action_rows(struct q3_observer *o, const uint8_t *p, size_t n, char *field, size_t field_size,
                            char *message, size_t message_size)
{
    uint64_t t = hp_now_ns();
    uint64_t seen[BITSET_WORDS(NPLAYERS)] = {0};
    size_t want = (size_t)o->n_slots * PBE_ACTION_ROW_SIZE * sizeof(float);
    o->out.len = 0;
    if (n != want) {
        snprintf(field, field_size, "action_rows");
        snprintf(message, message_size, "%zu values for %d slots; expected %d per slot", n / sizeof(float),
                 o->n_slots, PBE_ACTION_ROW_SIZE);
        return -1;
    }
    for (int i = 0; i < o->n_slots; i++) {
        float v[PBE_ACTION_ROW_SIZE];
        char text[64];
        const char *list = "action_rows";
        memcpy(v, p + (size_t)i * sizeof(v), sizeof(v)); /* the bytes need not be aligned */
        struct action a = {.client = o->slots[i].client, .forward = v[0], .strafe = v[1], .jump = v[2],
                           .yaw = v[3], .pitch = v[4], .attack = v[5] > 0.5f};
        if (!isfinite(v[5])) { /* NaN > 0.5 is false: it would pass as "no fire" */
            format_double(text, sizeof(text), v[5]);
            REFUSE(i, "attack", "%s is not a number (> 0.5 fires)", text);
        }
        if (!(v[6] >= 0 && v[6] < Q3_NUM_WEAPONS && v[6] == floorf(v[6]))) { /* NaN fails too */
            format_double(text, sizeof(text), v[6]);
            REFUSE(i, "weapon", "%s is not a Weapon number (0..%d)", text, Q3_NUM_WEAPONS - 1);
        }
        a.weapon = (int32_t)v[6];
        if (a.client < 0)
            continue; /* a slot whose player is not in the game (yet) */
        if (check_action(o, "action_rows", i, &a, seen, field, field_size, message, message_size))
            return -1;
        bit_set(seen, a.client);
        append_action(&o->out, o, &a);
    }
    hp_time(ST_ACTIONS, &t);
    return 0;
}

void q3_observer_hold_records(struct q3_observer *o)
{
    const struct q3_world *w = o->world;
    o->out.len = 0;
    for (int i = 0; i < o->n_slots; i++) {
        int c = o->slots[i].client;
        if (c < 0)
            continue;
        const float *angles = w->row_present[c] ? w->pvalue[c].angles : (const float[3]){0, 0, 0};
        append_record(&o->out, c, o->slots[i].pvs, 0, 0, 0, 0, 0, angle_units(angles[0]), angle_units(angles[1]));
    }
}
