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

#define MATCH_CS_MASK ((1ull << Q3_CS_SERVERINFO) | (1ull << Q3_CS_WARMUP) | (1ull << Q3_CS_SCORES1) | \
                       (1ull << Q3_CS_SCORES2) | (1ull << Q3_CS_LEVEL_START_TIME) | (1ull << Q3_CS_INTERMISSION))
#define LEVEL_EXIT_COMMAND "vstr nextmap" /* what the game runs when its limits end the level */

static int32_t rd_i32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static float rd_f32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t rd_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* ---- decoding a FRAME payload ---- */

#define FAIL(...) (snprintf(err, err_size, __VA_ARGS__), -1)

int q3_decode_frame(const uint8_t *p, size_t n, struct q3_frame *f, char *err, size_t err_size)
{
    gt_frame_header_t h;
    if (n < sizeof(h))
        return FAIL("FRAME: %zu bytes is shorter than its %zu-byte header", n, sizeof(h));
    memcpy(&h, p, sizeof(h));
    if (h.reserved || h.reserved2 || (h.flags & ~(GT_FRAME_CAPTURED | GT_FRAME_RESET)))
        return FAIL("FRAME %u: unknown flags %#x or reserved fields %u, %u", h.frame, h.flags, h.reserved,
                    h.reserved2);
    f->frame = h.frame;
    f->level_time = h.level_time_ms;
    f->flags = h.flags;
    size_t pos = sizeof(h);
    size_t need = (size_t)h.n_players * sizeof(gt_player_record_t) + (size_t)h.n_entities * sizeof(gt_entity_record_t);
    if (need > n - pos)
        return FAIL("FRAME %u: truncated records (%u players, %u entities)", h.frame, h.n_players, h.n_entities);
    f->n_players = h.n_players;
    f->players = p + pos;
    pos += (size_t)h.n_players * sizeof(gt_player_record_t);
    f->n_entities = h.n_entities;
    f->entities = p + pos;
    pos += (size_t)h.n_entities * sizeof(gt_entity_record_t);
    for (uint16_t i = 0; i < h.n_players; i++) {
        uint16_t client = rd_u16(f->players + (size_t)i * sizeof(gt_player_record_t));
        if (client >= NPLAYERS)
            return FAIL("FRAME %u: player record for client %u", h.frame, client);
    }
    for (uint16_t i = 0; i < h.n_entities; i++) {
        uint16_t number = rd_u16(f->entities + (size_t)i * sizeof(gt_entity_record_t));
        if (number < NPLAYERS || number >= NENTITIES)
            return FAIL("FRAME %u: entity record for number %u", h.frame, number);
    }
    f->n_configstrings = h.n_configstrings;
    f->configstrings = p + pos;
    for (uint16_t i = 0; i < h.n_configstrings; i++) {
        if (n - pos < 4)
            return FAIL("FRAME %u: truncated configstring record", h.frame);
        uint16_t index = rd_u16(p + pos), len = rd_u16(p + pos + 2);
        pos += 4;
        if (index >= Q3_MAX_CONFIGSTRINGS || len > n - pos)
            return FAIL("FRAME %u: bad configstring record (index %u, %u bytes)", h.frame, index, len);
        pos += len;
    }
    f->n_commands = h.n_commands;
    f->commands = p + pos;
    for (uint16_t i = 0; i < h.n_commands; i++) {
        if (n - pos < 2)
            return FAIL("FRAME %u: truncated command record", h.frame);
        uint16_t len = rd_u16(p + pos);
        pos += 2;
        if (len > n - pos)
            return FAIL("FRAME %u: command record of %u bytes runs past the frame", h.frame, len);
        pos += len;
    }
    f->n_usercmds = h.n_usercmds;
    f->usercmds = p + pos;
    if ((size_t)h.n_usercmds * sizeof(gt_usercmd_record_t) > n - pos)
        return FAIL("FRAME %u: truncated usercmd records", h.frame);
    for (uint16_t i = 0; i < h.n_usercmds; i++) {
        uint16_t client = rd_u16(p + pos);
        if (client >= NPLAYERS)
            return FAIL("FRAME %u: usercmd record for client %u", h.frame, client);
        pos += sizeof(gt_usercmd_record_t);
    }
    f->n_visibility = h.n_visibility;
    f->visibility = p + pos;
    for (uint16_t i = 0; i < h.n_visibility; i++) {
        if (n - pos < 4)
            return FAIL("FRAME %u: truncated visibility record", h.frame);
        uint16_t client = rd_u16(p + pos), count = rd_u16(p + pos + 2);
        pos += 4;
        if (client >= NPLAYERS || (size_t)count * 2 > n - pos)
            return FAIL("FRAME %u: bad visibility record (client %u, %u entities)", h.frame, client, count);
        for (uint16_t k = 0; k < count; k++)
            if (rd_u16(p + pos + 2 * k) >= NENTITIES)
                return FAIL("FRAME %u: visibility record names entity %u", h.frame, rd_u16(p + pos + 2 * k));
        pos += (size_t)count * 2;
    }
    if (h.log_size != n - pos)
        return FAIL("FRAME %u: %zu bytes left for a %u-byte log", h.frame, n - pos, h.log_size);
    f->log = p + pos;
    f->log_size = h.log_size;
    return 0;
}

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

/* Stores new bytes in a record; 1 if they differ from what it held (a new version). */
static int rec_store(struct q3_world *w, struct hp_rec *r, const uint8_t *p, size_t n)
{
    if (r->version && r->bytes.len == n && memcmp(r->bytes.data, p, n) == 0)
        return 0;
    r->bytes.len = 0;
    gt_buffer_append(&r->bytes, p, n);
    r->version = w->next_version++;
    return 1;
}

static void rec_drop(struct hp_rec *r)
{
    r->bytes.len = 0;
    r->version = 0;
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
}

/* ---- configstrings and the game's text ---- */

static const char *cs_text(const struct q3_world *w, int index, size_t *len)
{
    *len = w->cs_len[index];
    return w->cs[index] ? w->cs[index] : "";
}

static void set_player_info(struct q3_world *w, int client, const char *text, size_t n)
{
    struct q3_info *info = &w->info[client];
    info->present = n > 0;
    info->name.len = 0;
    info->is_bot = 0;
    info->skill = 0;
    if (!n)
        return;
    size_t len;
    const char *name = info_value(text, n, "n", &len);
    if (name)
        strip_colours(&info->name, name, len);
    const char *skill = info_value(text, n, "skill", &len);
    if (skill) { /* only bots have one */
        info->is_bot = 1;
        info->skill = text_to_int(skill, len, 0);
    }
}

/* Applies the frame's configstring changes; returns the players they touch. */
static uint64_t apply_configstrings(struct q3_world *w, const struct q3_frame *f, int *match_dirty)
{
    uint64_t touched = 0;
    const uint8_t *p = f->configstrings;
    for (uint16_t i = 0; i < f->n_configstrings; i++) {
        uint16_t index = rd_u16(p), len = rd_u16(p + 2);
        struct gt_buffer *clean = &w->scratch;
        clean->len = 0;
        utf8_clean(clean, (const char *)p + 4, len);
        p += 4 + len;
        free(w->cs[index]);
        w->cs[index] = NULL;
        w->cs_len[index] = 0;
        if (clean->len && !clean->failed && (w->cs[index] = malloc(clean->len + 1))) {
            memcpy(w->cs[index], clean->data, clean->len);
            w->cs[index][clean->len] = 0;
            w->cs_len[index] = (uint32_t)clean->len;
        }
        int client = index - Q3_CS_PLAYERS;
        if (client >= 0 && client < NPLAYERS) {
            touched |= 1ull << client;
            set_player_info(w, client, w->cs[index] ? w->cs[index] : "", w->cs_len[index]);
        } else if (index < 64 && (MATCH_CS_MASK >> index) & 1) {
            *match_dirty = 1;
        }
    }
    return touched;
}

static int is_level_exit(const struct q3_frame *f)
{
    const uint8_t *p = f->commands;
    for (uint16_t i = 0; i < f->n_commands; i++) {
        uint16_t len = rd_u16(p);
        const char *s = (const char *)p + 2;
        p += 2 + len;
        while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
            s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
            len--;
        if (len == sizeof(LEVEL_EXIT_COMMAND) - 1 && memcmp(s, LEVEL_EXIT_COMMAND, len) == 0)
            return 1;
    }
    return 0;
}

/* ---- events ---- */

static void add_event(struct q3_world *w, int kind, const struct gt_buffer *body)
{
    struct gt_buffer *e = &w->scratch2;
    e->len = 0;
    pbw_bytes(e, kind, body->data, body->len);
    blobs_add(&w->events, e->data, e->len);
}

static void add_client_event(struct q3_world *w, int kind, int client)
{
    struct gt_buffer *b = &w->scratch;
    b->len = 0;
    pbw_int32(b, 1, client); /* PlayerJoin.client and PlayerLeave.client */
    add_event(w, kind, b);
}

static int starts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

/* Decimal digits at s[*i..] as an int (saturated); -1 if there are none. */
static int64_t read_number(const char *s, size_t n, size_t *i)
{
    int64_t v = -1;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
        v = (v < 0 ? 0 : v) * 10 + (s[*i] - '0');
        if (v > INT32_MAX)
            v = INT32_MAX;
        (*i)++;
    }
    return v;
}

/* "Kill: A V M: text" */
static void kill_event(struct q3_world *w, const char *s, size_t n)
{
    size_t i = 6;
    int64_t attacker = read_number(s, n, &i);
    if (attacker < 0 || i >= n || s[i++] != ' ')
        return;
    int64_t victim = read_number(s, n, &i);
    if (victim < 0 || i >= n || s[i++] != ' ')
        return;
    int64_t mod = read_number(s, n, &i);
    if (mod < 0 || i >= n || s[i] != ':')
        return;
    struct gt_buffer *b = &w->scratch;
    b->len = 0;
    pbw_sint32(b, PB_KILL_ATTACKER, attacker >= NPLAYERS ? -1 : (int32_t)attacker);
    pbw_int32(b, PB_KILL_VICTIM, (int32_t)victim);
    pbw_int32(b, PB_KILL_MEANS_OF_DEATH, mod <= Q3_MOD_GRAPPLE ? (int32_t)mod : 0);
    add_event(w, PB_EVENT_KILL, b);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* "Item: C classname" */
static void item_event(struct q3_world *w, const char *s, size_t n)
{
    size_t i = 6;
    int64_t client = read_number(s, n, &i);
    if (client < 0 || i >= n || s[i++] != ' ')
        return;
    size_t start = i;
    while (i < n && !is_space(s[i]))
        i++;
    if (i == start)
        return;
    struct gt_buffer *b = &w->scratch;
    b->len = 0;
    pbw_int32(b, PB_ITEM_PICKUP_CLIENT, (int32_t)client);
    pbw_string(b, PB_ITEM_PICKUP_ITEM, s + start, i - start);
    add_event(w, PB_EVENT_ITEM_PICKUP, b);
}

static int client_named(const struct q3_world *w, const uint8_t *name, size_t n)
{
    for (int c = 0; c < NPLAYERS; c++) /* duplicate names: the lowest client number */
        if (w->info[c].present && w->info[c].name.len == n && memcmp(w->info[c].name.data, name, n) == 0)
            return c;
    return -1;
}

/* "say: NAME: text" or "sayteam: NAME: text" */
static void chat_event(struct q3_world *w, const char *s, size_t n)
{
    int team = starts(s, n, "sayteam: ");
    size_t i = team ? 9 : 5;
    if (!team && !starts(s, n, "say: "))
        return;
    const char *sep = NULL;
    for (size_t k = i; k + 1 < n; k++)
        if (s[k] == ':' && s[k + 1] == ' ') {
            sep = s + k;
            break;
        }
    if (!sep)
        return;
    struct gt_buffer name = {0};
    strip_colours(&name, s + i, (size_t)(sep - (s + i)));
    struct gt_buffer *b = &w->scratch;
    b->len = 0;
    pbw_sint32(b, PB_CHAT_CLIENT, client_named(w, name.data, name.len));
    pbw_string(b, PB_CHAT_NAME, (const char *)name.data, name.len);
    pbw_string(b, PB_CHAT_TEXT, sep + 2, (size_t)(s + n - sep - 2));
    pbw_uint(b, PB_CHAT_TEAM_ONLY, team);
    gt_buffer_free(&name);
    add_event(w, PB_EVENT_CHAT, b);
}

static void log_line(struct q3_world *w, const char *s, size_t n)
{
    if (starts(s, n, "Kill: "))
        kill_event(w, s, n);
    else if (starts(s, n, "Item: "))
        item_event(w, s, n);
    else if (starts(s, n, "say"))
        chat_event(w, s, n);
    else if (starts(s, n, "Exit: ")) {
        w->exit_reason.len = 0;
        gt_buffer_append(&w->exit_reason, s + 6, n - 6);
    }
}

/* The game's printed text, joined into whole lines across frames. */
static void log_events(struct q3_world *w, const struct q3_frame *f)
{
    struct gt_buffer text = {0};
    utf8_clean(&text, (const char *)f->log, f->log_size);
    const char *s = (const char *)text.data;
    size_t n = text.len, start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\n')
            continue;
        if (w->log_carry.len) {
            gt_buffer_append(&w->log_carry, s + start, i - start);
            log_line(w, (const char *)w->log_carry.data, w->log_carry.len);
            w->log_carry.len = 0;
        } else {
            log_line(w, s + start, i - start);
        }
        start = i + 1;
    }
    if (start < n && w->log_carry.len + (n - start) <= MAX_TEXT)
        gt_buffer_append(&w->log_carry, s + start, n - start);
    else if (start < n)
        w->log_carry.len = 0; /* a line longer than any the game prints: drop it */
    gt_buffer_free(&text);
}

/* ---- the match info ---- */

static int32_t cs_int(const struct q3_world *w, int index, int32_t fallback)
{
    size_t n;
    const char *s = cs_text(w, index, &n);
    return text_to_int(s, n, fallback);
}

static int32_t phase_of(const struct q3_world *w)
{
    size_t n;
    const char *s = cs_text(w, Q3_CS_INTERMISSION, &n);
    if (n == 1 && s[0] == '1')
        return PBE_MATCH_PHASE_INTERMISSION;
    cs_text(w, Q3_CS_WARMUP, &n);
    if (n) {
        int32_t warmup = cs_int(w, Q3_CS_WARMUP, 0);
        if (warmup < 0 || warmup > w->level_time)
            return PBE_MATCH_PHASE_WARMUP;
    }
    return PBE_MATCH_PHASE_PLAYING;
}

static int32_t info_int(const char *info, size_t n, const char *key)
{
    size_t len;
    const char *v = info_value(info, n, key, &len);
    return v ? text_to_int(v, len, 0) : 0;
}

static void encode_match(const struct q3_world *w, struct gt_buffer *b, int32_t phase)
{
    size_t n, len;
    const char *info = cs_text(w, Q3_CS_SERVERINFO, &n);
    const char *map = info_value(info, n, "mapname", &len);
    if (map && len) {
        char lower[256];
        size_t k = len < sizeof(lower) ? len : sizeof(lower);
        for (size_t i = 0; i < k; i++)
            lower[i] = (map[i] >= 'A' && map[i] <= 'Z') ? (char)(map[i] + 32) : map[i];
        pbw_string(b, PB_MATCH_INFO_MAP, lower, k);
    }
    int32_t game_type = info_int(info, n, "g_gametype");
    pbw_int32(b, PB_MATCH_INFO_GAME_TYPE, game_type >= 0 && game_type < Q3_GT_MAX_GAME_TYPE ? game_type + 1 : 0);
    pbw_int32(b, PB_MATCH_INFO_PHASE, phase);
    pbw_int32(b, PB_MATCH_INFO_FRAG_LIMIT, info_int(info, n, "fraglimit"));
    int64_t time_limit = (int64_t)info_int(info, n, "timelimit") * 60;
    pbw_int32(b, PB_MATCH_INFO_TIME_LIMIT_S, (int32_t)(time_limit > INT32_MAX ? INT32_MAX
                                                      : time_limit < INT32_MIN ? INT32_MIN : time_limit));
    pbw_int32(b, PB_MATCH_INFO_CAPTURE_LIMIT, info_int(info, n, "capturelimit"));
    if (game_type >= Q3_GT_TEAM && game_type != Q3_GT_LMS) {
        pbw_int32(b, PB_MATCH_INFO_RED_SCORE, cs_int(w, Q3_CS_SCORES1, 0));
        pbw_int32(b, PB_MATCH_INFO_BLUE_SCORE, cs_int(w, Q3_CS_SCORES2, 0));
    }
    size_t wn;
    cs_text(w, Q3_CS_WARMUP, &wn);
    pbw_sint32(b, PB_MATCH_INFO_WARMUP_END_MS, wn ? cs_int(w, Q3_CS_WARMUP, 0) : 0);
    pbw_int32(b, PB_MATCH_INFO_LEVEL_START_MS, cs_int(w, Q3_CS_LEVEL_START_TIME, 0));
}

/* Rebuilds the match info when it may have changed; 1 if its bytes changed. */
static int update_match(struct q3_world *w, int dirty)
{
    if (!dirty && w->phase != PBE_MATCH_PHASE_WARMUP)
        return 0;
    int32_t phase = phase_of(w);
    if (phase != w->phase) {
        w->phase = phase;
        struct gt_buffer *b = &w->scratch;
        b->len = 0;
        pbw_int32(b, PB_PHASE_CHANGE_PHASE, phase);
        if (phase == PBE_MATCH_PHASE_INTERMISSION)
            pbw_string(b, PB_PHASE_CHANGE_REASON, (const char *)w->exit_reason.data, w->exit_reason.len);
        add_event(w, PB_EVENT_PHASE_CHANGE, b);
    }
    struct gt_buffer *m = &w->scratch;
    m->len = 0;
    encode_match(w, m, phase);
    if (w->match.bytes.len == m->len && (!m->len || memcmp(w->match.bytes.data, m->data, m->len) == 0))
        return 0; /* an empty MatchInfo is what "no match info yet" already says */
    rec_store(w, &w->match, m->data, m->len);
    return 1;
}

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
    uint64_t values[Q3_NUM_POWERUPS > Q3_NUM_WEAPONS ? Q3_NUM_POWERUPS : Q3_NUM_WEAPONS];
    for (int i = 0; i < Q3_NUM_WEAPONS; i++)
        values[i] = zigzag32(p->ammo[i]);
    size_t start = pbw_begin(b, PB_PLAYER_AMMO); /* always all 14 entries */
    for (int i = 0; i < Q3_NUM_WEAPONS; i++)
        pbw_varint(b, values[i]);
    pbw_end(b, start);
    pbw_uint(b, PB_PLAYER_WEAPONS_OWNED, (uint32_t)rd_i32(ps + Q3_PS_STATS + 4 * Q3_STAT_WEAPONS));
    size_t n = 0;
    for (int k = 0; k < Q3_NUM_POWERUPS; k++)
        if (rd_i32(ps + Q3_PS_POWERUPS + 4 * k))
            values[n++] = (uint64_t)k;
    pbw_packed_uint(b, PB_PLAYER_POWERUPS, values, n);
    pbw_sint32(b, PB_PLAYER_SCORE, p->score);
    pbw_uint(b, PB_PLAYER_ALIVE, p->alive);
    pbw_int32(b, PB_PLAYER_DEATHS, p->deaths);
    pbw_int32(b, PB_PLAYER_SKILL, p->skill);
    pbw_uint(b, PB_PLAYER_CROUCHED, p->crouched);
    pbw_uint(b, PB_PLAYER_ON_GROUND, p->on_ground);
    pbw_int32(b, PB_PLAYER_PING_MS, p->ping);
}

/* Rebuilds the touched players (in client order): changed ones into the delta buffer. */
static void update_players(struct q3_world *w, uint64_t touched, struct gt_buffer *changed, uint64_t *removed,
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
                removed[(*n_removed)++] = (uint64_t)c;
                add_client_event(w, PB_EVENT_LEAVE, c);
            }
            continue;
        }
        decode_player(w->ps[c], &w->info[c], &w->pvalue[c]);
        b->len = 0;
        encode_player(b, c, w->ps[c], &w->info[c], &w->pvalue[c], w->controller[c]);
        int joined = r->version == 0;
        if (rec_store(w, r, b->data, b->len)) {
            pbw_bytes(changed, PB_WORLD_DELTA_PLAYERS, r->bytes.data, r->bytes.len);
            if (joined)
                add_client_event(w, PB_EVENT_JOIN, c);
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
        model = cs_text(w, Q3_CS_MODELS + modelindex, &model_len);
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

static void update_entities(struct q3_world *w, const struct q3_frame *f, uint64_t *old, struct gt_buffer *changed,
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

/* ---- agents' inputs ---- */

static void take_agent_inputs(struct q3_world *w, const struct q3_frame *f)
{
    for (uint16_t i = 0; i < f->n_usercmds; i++) {
        const uint8_t *rec = f->usercmds + (size_t)i * sizeof(gt_usercmd_record_t);
        int client = rd_u16(rec);
        memcpy(w->teacher[client], rec + offsetof(gt_usercmd_record_t, usercmd), Q3_CMD_SIZE);
        w->teacher_seen[client] = 1;
    }
    const uint8_t *p = f->visibility;
    for (uint16_t i = 0; i < f->n_visibility; i++) {
        int client = rd_u16(p), count = rd_u16(p + 2);
        memset(w->visible[client], 0, sizeof(w->visible[client]));
        for (int k = 0; k < count; k++)
            bit_set(w->visible[client], rd_u16(p + 4 + 2 * k));
        p += 4 + 2 * (size_t)count;
    }
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
    if (w->level_exited || is_level_exit(f)) {
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
    uint64_t touched = f->n_configstrings ? apply_configstrings(w, f, &match_dirty) : 0;
    hp_time(ST_TEXT, &t);

    for (uint16_t i = 0; i < f->n_players; i++) {
        const uint8_t *rec = f->players + (size_t)i * sizeof(gt_player_record_t);
        int client = rd_u16(rec);
        memcpy(w->ps[client], rec + offsetof(gt_player_record_t, ps), Q3_PS_SIZE);
        w->row_present[client] = 1;
        touched |= 1ull << client;
    }
    touched |= old_players | w->restamp;
    w->restamp = 0;
    struct gt_buffer *players = &w->part[0], *entities = &w->part[1], *removed_entities = &w->part[2];
    players->len = entities->len = removed_entities->len = 0;
    uint64_t removed_players[NPLAYERS];
    size_t n_removed = 0;
    update_players(w, touched, players, removed_players, &n_removed);
    hp_time(ST_PLAYERS, &t);
    update_entities(w, f, reset ? old_entities : NULL, entities, removed_entities);
    hp_time(ST_ENTITIES, &t);
    if (f->log_size)
        log_events(w, f);
    int match_changed = update_match(w, match_dirty);
    take_agent_inputs(w, f);
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
