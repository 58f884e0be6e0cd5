/*
 * The game's text, read as the match's events and its match info: configstrings (player
 * names and skills, the server info, warmup, scores, intermission), the lines the game
 * logs (kills, item pickups, chat, the reason a level ended) and the command that ends
 * the level. docs/abi.md lists every index, key and line format used here.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "q3world.h"

#define MATCH_CS_MASK ((1ull << Q3_CS_SERVERINFO) | (1ull << Q3_CS_WARMUP) | (1ull << Q3_CS_SCORES1) | \
                       (1ull << Q3_CS_SCORES2) | (1ull << Q3_CS_LEVEL_START_TIME) | (1ull << Q3_CS_INTERMISSION))
#define LEVEL_EXIT_COMMAND "vstr nextmap" /* what the game runs when its limits end the level */

/* ---- configstrings and the game's text ---- */

const char *q3_cs_text(const struct q3_world *w, int index, size_t *len)
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
uint64_t q3_apply_configstrings(struct q3_world *w, const struct q3_frame *f, int *match_dirty)
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

int q3_is_level_exit(const struct q3_frame *f)
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

void q3_add_client_event(struct q3_world *w, int kind, int client)
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
void q3_log_events(struct q3_world *w, const struct q3_frame *f)
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
    const char *s = q3_cs_text(w, index, &n);
    return text_to_int(s, n, fallback);
}

static int32_t phase_of(const struct q3_world *w)
{
    size_t n;
    const char *s = q3_cs_text(w, Q3_CS_INTERMISSION, &n);
    if (n == 1 && s[0] == '1')
        return PBE_MATCH_PHASE_INTERMISSION;
    q3_cs_text(w, Q3_CS_WARMUP, &n);
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
    const char *info = q3_cs_text(w, Q3_CS_SERVERINFO, &n);
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
    q3_cs_text(w, Q3_CS_WARMUP, &wn);
    pbw_sint32(b, PB_MATCH_INFO_WARMUP_END_MS, wn ? cs_int(w, Q3_CS_WARMUP, 0) : 0);
    pbw_int32(b, PB_MATCH_INFO_LEVEL_START_MS, cs_int(w, Q3_CS_LEVEL_START_TIME, 0));
}

/* Rebuilds the match info when it may have changed; 1 if its bytes changed. */
int q3_update_match(struct q3_world *w, int dirty)
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
