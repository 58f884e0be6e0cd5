/* The game's player and entity records -> serialized Player and Entity messages (docs/abi.md). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "q3world.h"

/* ---- players ---- */

static void decode_player(const uint8_t *ps, const struct q3_info *info, struct q3_player *p)
{
    int32_t health = rd_i32(ps + Q3_PS_STATS + 4 * Q3_STAT_HEALTH);
    int32_t team = rd_i32(ps + Q3_PS_PERSISTANT + 4 * Q3_PERS_TEAM);
    int32_t pm_type = rd_i32(ps + Q3_PS_PM_TYPE);
    p->team = (int32_t)((uint32_t)team + 1u);
    p->health = health;
    p->alive = health > 0 && team != Q3_TEAM_SPECTATOR && pm_type != Q3_PM_SPECTATOR && pm_type != Q3_PM_DEAD;
    p->armor = rd_i32(ps + Q3_PS_STATS + 4 * Q3_STAT_ARMOR);
    p->weapon = rd_i32(ps + Q3_PS_WEAPON);
    p->score = rd_i32(ps + Q3_PS_PERSISTANT + 4 * Q3_PERS_SCORE);
    p->deaths = rd_i32(ps + Q3_PS_PERSISTANT + 4 * Q3_PERS_KILLED);
    p->ping = rd_i32(ps + Q3_PS_PING);
    p->skill = info->skill;
    p->crouched = (rd_i32(ps + Q3_PS_PM_FLAGS) & Q3_PMF_DUCKED) != 0;
    p->on_ground = rd_i32(ps + Q3_PS_GROUNDENTITYNUM) != Q3_ENTITYNUM_NONE;
    for (int i = 0; i < 3; i++) {
        p->origin[i] = rd_f32(ps + Q3_PS_ORIGIN + 4 * i);
        p->velocity[i] = rd_f32(ps + Q3_PS_VELOCITY + 4 * i);
        p->angles[i] = rd_f32(ps + Q3_PS_VIEWANGLES + 4 * i);
        p->delta_angles[i] = rd_i32(ps + Q3_PS_DELTA_ANGLES + 4 * i);
    }
    for (int i = 0; i < Q3_NUM_WEAPONS; i++)
        p->ammo[i] = rd_i32(ps + Q3_PS_AMMO + 4 * i);
}

static void write_vec3(struct gt_buffer *b, int field, const float v[3])
{
    size_t start = pbw_begin(b, field);
    pbw_float(b, PB_VEC3_X, v[0]);
    pbw_float(b, PB_VEC3_Y, v[1]);
    pbw_float(b, PB_VEC3_Z, v[2]);
    pbw_end(b, start);
}

/* cmd's angles are absolute (the library made them so) unless delta is given: then relative to it. */
static void write_command(struct gt_buffer *b, int field, const uint8_t *cmd, const int32_t *delta)
{
    size_t start = pbw_begin(b, field);
    pbw_sint32(b, PB_COMMAND_FORWARD, (int8_t)cmd[Q3_CMD_FORWARDMOVE]);
    pbw_sint32(b, PB_COMMAND_RIGHT, (int8_t)cmd[Q3_CMD_RIGHTMOVE]);
    pbw_sint32(b, PB_COMMAND_UP, (int8_t)cmd[Q3_CMD_UPMOVE]);
    pbw_uint(b, PB_COMMAND_BUTTONS, (uint32_t)rd_i32(cmd + Q3_CMD_BUTTONS));
    pbw_uint(b, PB_COMMAND_WEAPON, cmd[Q3_CMD_WEAPON]);
    static const int fields[3] = {PB_COMMAND_PITCH, PB_COMMAND_YAW, PB_COMMAND_ROLL};
    for (int i = 0; i < 3; i++)
        pbw_uint(b, fields[i], ((uint32_t)rd_i32(cmd + Q3_CMD_ANGLES + 4 * i) + (delta ? (uint32_t)delta[i] : 0u)) & 0xFFFFu);
    pbw_end(b, start);
}

/* An agent slot's visibility list, as packed numbers. */
static void write_sees(struct gt_buffer *b, const uint64_t *visible)
{
    uint64_t numbers[NENTITIES];
    size_t n = 0;
    for (int i = 0; i < NENTITIES; i++)
        if (bit_test(visible, i))
            numbers[n++] = (uint64_t)i;
    pbw_packed_uint(b, PB_PLAYER_SEES, numbers, n);
}

static void encode_player(struct gt_buffer *b, int client, const uint8_t *ps, const struct q3_info *info,
                          const struct q3_player *p, int32_t controller)
{
    pbw_int32(b, PB_PLAYER_CLIENT, client);
    pbw_string(b, PB_PLAYER_NAME, (const char *)info->name.data, info->name.len);
    pbw_int32(b, PB_PLAYER_TEAM, p->team);
    pbw_int32(b, PB_PLAYER_CONTROLLER, controller ? controller : info->is_bot ? PBE_CONTROLLER_BOT : PBE_CONTROLLER_HUMAN);
    write_vec3(b, PB_PLAYER_ORIGIN, p->origin);
    write_vec3(b, PB_PLAYER_VELOCITY, p->velocity);
    write_vec3(b, PB_PLAYER_VIEW_ANGLES, p->angles);
    pbw_sint32(b, PB_PLAYER_HEALTH, p->health);
    pbw_int32(b, PB_PLAYER_ARMOR, p->armor);
    pbw_int32(b, PB_PLAYER_WEAPON, p->weapon);
    size_t start = pbw_begin(b, PB_PLAYER_AMMO); /* always all 14 entries */
    for (int i = 0; i < Q3_NUM_WEAPONS; i++)
        pbw_varint(b, zigzag32(p->ammo[i]));
    pbw_end(b, start);
    pbw_uint(b, PB_PLAYER_WEAPONS_OWNED, (uint32_t)rd_i32(ps + Q3_PS_STATS + 4 * Q3_STAT_WEAPONS));
    uint64_t powerups[Q3_NUM_POWERUPS];
    size_t n = 0;
    for (int k = 0; k < Q3_NUM_POWERUPS; k++)
        if (rd_i32(ps + Q3_PS_POWERUPS + 4 * k))
            powerups[n++] = (uint64_t)k;
    pbw_packed_uint(b, PB_PLAYER_POWERUPS, powerups, n);
    pbw_sint32(b, PB_PLAYER_SCORE, p->score);
    pbw_uint(b, PB_PLAYER_ALIVE, p->alive);
    pbw_int32(b, PB_PLAYER_DEATHS, p->deaths);
    pbw_int32(b, PB_PLAYER_SKILL, p->skill);
    pbw_uint(b, PB_PLAYER_CROUCHED, p->crouched);
    pbw_uint(b, PB_PLAYER_ON_GROUND, p->on_ground);
    pbw_int32(b, PB_PLAYER_PING_MS, p->ping);
}

static void encode_player_with_command(struct q3_world *w, struct gt_buffer *b, int c)
{
    encode_player(b, c, w->ps[c], &w->info[c], &w->pvalue[c], w->controller[c]);
    if (w->has_cmd[c])
        write_command(b, PB_PLAYER_COMMAND, w->cmd[c], NULL);
    if (w->controller[c] != PBE_CONTROLLER_AGENT)
        return;
    if (w->teacher_seen[c])  /* the teacher's angles are the bot AI's own: relative to delta_angles */
        write_command(b, PB_PLAYER_TEACHER, w->teacher[c], w->pvalue[c].delta_angles);
    if (w->has_visible[c])
        write_sees(b, w->visible[c]);
}

/* Rebuilds the touched players (in client order): changed ones into the delta buffer. */
void q3_update_players(struct q3_world *w, uint64_t touched, struct gt_buffer *changed, uint64_t *removed,
                           size_t *n_removed)
{
    struct gt_buffer *b = &w->scratch;
    for (int c = 0; c < NPLAYERS; c++) {
        if (!((touched >> c) & 1))
            continue;
        struct hp_rec *r = &w->player[c];
        if (!w->info[c].present || !w->row_present[c]) {
            if (r->version) {
                rec_drop(r);
                w->has_cmd[c] = 0;
                w->stats.players_left++;
                removed[(*n_removed)++] = (uint64_t)c;
                q3_add_client_event(w, PB_EVENT_LEAVE, c);
            }
            continue;
        }
        decode_player(w->ps[c], &w->info[c], &w->pvalue[c]);
        b->len = 0;
        encode_player_with_command(w, b, c);
        int joined = r->version == 0;
        if (rec_store(w, r, b->data, b->len)) {
            pbw_bytes(changed, PB_WORLD_DELTA_PLAYERS, r->bytes.data, r->bytes.len);
            if (joined)
                q3_add_client_event(w, PB_EVENT_JOIN, c);
        }
    }
}

/* ---- entities ---- */

static void encode_entity(const struct q3_world *w, struct gt_buffer *b, int number, const uint8_t *s,
                          const uint8_t *sh, struct q3_entity *v)
{
    int32_t etype = rd_i32(s + Q3_ES_ETYPE), modelindex = rd_i32(s + Q3_ES_MODELINDEX);
    int32_t owner = rd_i32(sh + Q3_ESH_OWNERNUM), weapon = rd_i32(s + Q3_ES_WEAPON);
    v->hidden = (rd_i32(s + Q3_ES_EFLAGS) & Q3_EF_NODRAW) || (rd_i32(sh + Q3_ESH_SVFLAGS) & Q3_SVF_NOCLIENT);
    v->type = etype >= Q3_ET_EVENTS ? PBE_ENTITY_TYPE_EVENT : (int32_t)((uint32_t)etype + 1u);
    v->item_type = 0;
    for (int i = 0; i < 3; i++)
        v->origin[i] = rd_f32(sh + Q3_ESH_CURRENTORIGIN + 4 * i);
    float angles[3];
    for (int i = 0; i < 3; i++)
        angles[i] = rd_f32(sh + Q3_ESH_CURRENTANGLES + 4 * i);

    static const char *const item_names[] = {
#define ITEM_NAME(i, name, gi) name,
        Q3_ITEM_TABLE(ITEM_NAME)
#undef ITEM_NAME
    };
    static const int item_types[] = {
#define ITEM_TYPE(i, name, gi) gi,
        Q3_ITEM_TABLE(ITEM_TYPE)
#undef ITEM_TYPE
    };
    const char *item = NULL, *model = NULL;
    size_t model_len = 0;
    if (etype == Q3_ET_ITEM) {
        if (modelindex > 0 && modelindex < Q3_ITEM_COUNT) {
            item = item_names[modelindex];
            v->item_type = item_types[modelindex] + 1;
        }
    } else if (modelindex > 0 && modelindex < Q3_MAX_MODELS) {
        model = q3_cs_text(w, Q3_CS_MODELS + modelindex, &model_len);
    }
    pbw_int32(b, PB_ENTITY_NUMBER, number);
    pbw_int32(b, PB_ENTITY_TYPE, v->type);
    write_vec3(b, PB_ENTITY_ORIGIN, v->origin);
    write_vec3(b, PB_ENTITY_ANGLES, angles);
    if (item)
        pbw_string(b, PB_ENTITY_ITEM, item, strlen(item));
    pbw_int32(b, PB_ENTITY_ITEM_TYPE, v->item_type);
    pbw_sint32(b, PB_ENTITY_OWNER, owner == Q3_ENTITYNUM_NONE ? -1 : owner);
    if (model)
        pbw_string(b, PB_ENTITY_MODEL, model, model_len);
    pbw_uint(b, PB_ENTITY_HIDDEN, v->hidden);
    if (etype == Q3_ET_MISSILE) {
        pbw_int32(b, PB_ENTITY_WEAPON, weapon >= 0 && weapon < Q3_NUM_WEAPONS ? weapon : 0);
        float velocity[3];
        for (int i = 0; i < 3; i++)
            velocity[i] = rd_f32(s + Q3_ES_POS_TRDELTA + 4 * i);
        write_vec3(b, PB_ENTITY_VELOCITY, velocity);
    }
    if (etype >= Q3_ET_EVENTS)
        pbw_int32(b, PB_ENTITY_EVENT, (etype - Q3_ET_EVENTS) & 0xFF);
    if (etype == Q3_ET_PLAYER)
        pbw_int32(b, PB_ENTITY_CLIENT, rd_i32(s + Q3_ES_CLIENTNUM));
}

void q3_update_entities(struct q3_world *w, const struct q3_frame *f, uint64_t *old, struct gt_buffer *changed,
                            struct gt_buffer *removed)
{
    struct gt_buffer *b = &w->scratch;
    for (uint16_t i = 0; i < f->n_entities; i++) {
        const uint8_t *rec = f->entities + (size_t)i * sizeof(gt_entity_record_t);
        int number = rd_u16(rec);
        const uint8_t *s = rec + offsetof(gt_entity_record_t, state), *sh = rec + offsetof(gt_entity_record_t, shared);
        struct hp_rec *r = &w->entity[number];
        if (old)
            old[number >> 6] &= ~(1ull << (number & 63));
        if (!rd_i32(sh + Q3_ESH_LINKED)) {
            if (r->version) {
                rec_drop(r);
                pbw_varint(removed, (uint64_t)number);
            }
            continue;
        }
        b->len = 0;
        struct q3_entity value;
        encode_entity(w, b, number, s, sh, &value);
        if (rec_store(w, r, b->data, b->len)) {
            w->evalue[number] = value;
            pbw_bytes(changed, PB_WORLD_DELTA_ENTITIES, b->data, b->len);
        }
    }
    if (!old)
        return;
    for (int n = 0; n < NENTITIES; n++) /* after a reset: whatever the game did not send again is gone */
        if (bit_test(old, n)) {
            rec_drop(&w->entity[n]);
            pbw_varint(removed, (uint64_t)n);
        }
}
