/*
 * Capture: after every Q3_VM_GAME_RUN_FRAME, send the daemon what changed. Changed
 * means "bytes differ from what was sent last": the library copies ABI bytes
 * and leaves their meaning to the daemon. Client body entities (0..63) are
 * skipped: their players' playerState carries them.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "gt_internal.h"

#define LOG_LIMIT (1u << 20)  /* game text kept between two frames */
#define LINKED_OFFSET GT_ENTITYSHARED_OFFSET

static struct gt_game_data game = {.max_clients = GT_MAX_CLIENTS};

/* What was sent last, per entity and per player. */
static uint8_t sent_entity[GT_MAX_GENTITIES][GT_ENTITYSTATE_SIZE + GT_ENTITYSHARED_SIZE];
static uint8_t sent_linked[GT_MAX_GENTITIES];
static uint8_t sent_ps[GT_MAX_CLIENTS][GT_PLAYERSTATE_SIZE];

static char *configstrings[Q3_MAX_CONFIGSTRINGS];
static uint16_t dirty_cs[Q3_MAX_CONFIGSTRINGS];
static uint8_t is_dirty[Q3_MAX_CONFIGSTRINGS];
static int n_dirty;

static struct gt_buffer game_log, game_commands, frame_buf;
static uint16_t n_commands;
static int log_truncated;
static uint32_t frame_no, unflushed;
static int reset_pending, stopped;

#define append gt_buffer_append

int gt_capture_stopped(void)
{
    return stopped;
}

uint32_t gt_capture_frame_no(void)
{
    return frame_no;
}

const struct gt_game_data *gt_game_data(void)
{
    return &game;
}

void gt_capture_module_loaded(int fresh_map)
{
    memset(sent_entity, 0, sizeof(sent_entity));
    memset(sent_linked, 0, sizeof(sent_linked));
    memset(sent_ps, 0, sizeof(sent_ps));
    gt_usercmds_reset();
    game.gents = game.gclients = NULL;
    game.num_gents = 0;
    reset_pending = 1;
    if (fresh_map) { /* a new map starts with no configstrings; a restart keeps them */
        for (int i = 0; i < Q3_MAX_CONFIGSTRINGS; i++) {
            free(configstrings[i]);
            configstrings[i] = NULL;
        }
    }
    intptr_t n = gt_game_syscall2(Q3_G_CVAR_VARIABLE_INTEGER_VALUE, (intptr_t) "sv_maxclients", 0, 0);
    game.max_clients = (n > 0 && n <= GT_MAX_CLIENTS) ? (int)n : GT_MAX_CLIENTS;
}

void gt_capture_locate(void *g, int num, int gsize, void *clients, int csize)
{
    /* Strides smaller than the ABI regions copied would read past a record: refuse them. */
    int usable = gsize >= GT_ENTITYSHARED_OFFSET + GT_ENTITYSHARED_SIZE && csize >= GT_PLAYERSTATE_SIZE;
    game.gents = usable ? g : NULL;
    game.num_gents = num < 0 ? 0 : (num > GT_MAX_GENTITIES ? GT_MAX_GENTITIES : num);
    game.gent_size = gsize;
    game.gclients = usable ? clients : NULL;
    game.gclient_size = csize;
}

static void mark_dirty(int index)
{
    if (!is_dirty[index]) {
        is_dirty[index] = 1;
        dirty_cs[n_dirty++] = (uint16_t)index;
    }
}

void gt_capture_configstring(int index, const char *text)
{
    if (index < 0 || index >= Q3_MAX_CONFIGSTRINGS || !text)
        return;
    if (configstrings[index] && strcmp(configstrings[index], text) == 0)
        return;
    free(configstrings[index]);
    configstrings[index] = strdup(text);
    mark_dirty(index);
}

void gt_capture_print(const char *text)
{
    if (!gt_cfg.active || !gt_cfg.capture || !text)
        return;
    size_t n = strlen(text);
    if (game_log.len + n > LOG_LIMIT) {
        log_truncated = 1;
        return;
    }
    append(&game_log, text, n);
}

void gt_capture_command(const char *text)
{
    if (!gt_cfg.active || !gt_cfg.capture || !text || n_commands == UINT16_MAX)
        return;
    uint16_t len = (uint16_t)strnlen(text, 4096);
    if (append(&game_commands, &len, sizeof(len)) == 0 && append(&game_commands, text, len) == 0)
        n_commands++;
}

/* The engine maintains Q3_CS_SERVERINFO itself (cvar changes), so poll it. */
static void poll_serverinfo(void)
{
    static char info[Q3_BIG_INFO_STRING];
    info[0] = 0;
    gt_game_syscall2(Q3_G_GET_CONFIGSTRING, Q3_CS_SERVERINFO, (intptr_t)info, sizeof(info));
    info[sizeof(info) - 1] = 0;
    gt_capture_configstring(Q3_CS_SERVERINFO, info);
}

static uint16_t capture_players(void)
{
    uint16_t n = 0;
    gt_player_record_t rec = {0};
    if (!game.gclients)
        return 0;
    for (int c = 0; c < game.max_clients; c++) {
        const uint8_t *ps = game.gclients + (size_t)c * (size_t)game.gclient_size;
        if (memcmp(ps, sent_ps[c], GT_PLAYERSTATE_SIZE) == 0)
            continue;
        memcpy(sent_ps[c], ps, GT_PLAYERSTATE_SIZE);
        rec.client = (uint16_t)c;
        memcpy(rec.ps, ps, GT_PLAYERSTATE_SIZE);
        append(&frame_buf, &rec, sizeof(rec));
        n++;
    }
    return n;
}

static uint16_t capture_entities(void)
{
    uint16_t n = 0;
    gt_entity_record_t rec = {0};
    if (!game.gents)
        return 0;
    for (int i = GT_MAX_CLIENTS; i < game.num_gents; i++) {
        const uint8_t *e = game.gents + (size_t)i * (size_t)game.gent_size;
        int32_t linked;
        memcpy(&linked, e + LINKED_OFFSET, sizeof(linked));
        if (!linked && !sent_linked[i])
            continue;
        uint8_t *sent = sent_entity[i];
        if (memcmp(e, sent, GT_ENTITYSTATE_SIZE) == 0 &&
            memcmp(e + LINKED_OFFSET, sent + GT_ENTITYSTATE_SIZE, GT_ENTITYSHARED_SIZE) == 0)
            continue;
        memcpy(sent, e, GT_ENTITYSTATE_SIZE);
        memcpy(sent + GT_ENTITYSTATE_SIZE, e + LINKED_OFFSET, GT_ENTITYSHARED_SIZE);
        sent_linked[i] = linked != 0;
        rec.number = (uint16_t)i;
        memcpy(rec.state, sent, sizeof(rec.state) + sizeof(rec.shared));
        append(&frame_buf, &rec, sizeof(rec));
        n++;
    }
    return n;
}

static void append_configstring(int index)
{
    const char *text = configstrings[index] ? configstrings[index] : "";
    uint16_t head[2] = {(uint16_t)index, (uint16_t)strnlen(text, 65535)};
    append(&frame_buf, head, sizeof(head));
    append(&frame_buf, text, head[1]);
}

static uint16_t capture_configstrings(int reset)
{
    uint16_t n = 0;
    poll_serverinfo();
    if (reset) {
        for (int i = 0; i < Q3_MAX_CONFIGSTRINGS; i++)
            if (configstrings[i] && configstrings[i][0]) {
                append_configstring(i);
                n++;
            }
    } else {
        for (int k = 0; k < n_dirty; k++) {
            append_configstring(dirty_cs[k]);
            n++;
        }
    }
    for (int k = 0; k < n_dirty; k++)
        is_dirty[dirty_cs[k]] = 0;
    n_dirty = 0;
    return n;
}

static void send_frame(int level_time)
{
    gt_frame_header_t h = {0};
    frame_buf.len = 0;
    append(&frame_buf, &h, sizeof(h)); /* filled in below */
    h.frame = frame_no;
    h.level_time_ms = level_time;
    if (gt_cfg.capture) {
        h.flags = GT_FRAME_CAPTURED | (reset_pending ? GT_FRAME_RESET : 0);
        h.n_players = capture_players();
        h.n_entities = capture_entities();
        h.n_configstrings = capture_configstrings(reset_pending);
        append(&frame_buf, game_commands.data, game_commands.len);
        h.n_commands = n_commands;
        game_commands.len = 0;
        n_commands = 0;
        gt_agents_frame_records(&frame_buf, gt_agents_observed_frame(frame_no), &h.n_usercmds,
                                &h.n_visibility);
        h.n_applied = gt_usercmds_frame_records(&frame_buf);
        if (log_truncated) {
            static const char note[] = "\n[gametap: game output truncated]\n";
            append(&game_log, note, sizeof(note) - 1);
            log_truncated = 0;
        }
        h.log_size = (uint32_t)game_log.len;
        reset_pending = 0;
    }
    memcpy(frame_buf.data, &h, sizeof(h));
    gt_link_send_parts(GT_MSG_FRAME, frame_buf.data, (uint32_t)frame_buf.len, game_log.data,
                       h.log_size);
    game_log.len = 0;
}

void gt_capture_frame(int level_time)
{
    if (stopped || !gt_link_alive())
        return;
    frame_no++;
    send_frame(level_time);
    if (gt_cfg.max_frames && frame_no >= gt_cfg.max_frames) {
        stopped = 1;
        gt_link_end("max_frames", frame_no);
        gt_game_quit("reached max_frames");
        return;
    }
    if (++unflushed >= gt_cfg.flush_frames) {
        unflushed = 0;
        if (gt_link_flush() == 0)
            gt_link_poll(0); /* commands from the daemon, once per flush */
    }
}
