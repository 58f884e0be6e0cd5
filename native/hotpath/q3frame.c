/* Checking a FRAME message's layout (native/include/gametap_link.h) before anything reads it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "q3world.h"

/* ---- decoding a FRAME payload ---- */

#define FAIL(...) (snprintf(err, err_size, __VA_ARGS__), -1)

/* Checks count gt_usercmd_record_t at *pos and moves past them: 0; or the first record's
 * client that is no slot; or -1 if they run past the n bytes. */
static int usercmd_records(const uint8_t *p, size_t n, size_t *pos, uint16_t count)
{
    if ((size_t)count * sizeof(gt_usercmd_record_t) > n - *pos)
        return -1;
    for (uint16_t i = 0; i < count; i++, *pos += sizeof(gt_usercmd_record_t))
        if (rd_u16(p + *pos) >= NPLAYERS)
            return rd_u16(p + *pos);
    return 0;
}

int q3_decode_frame(const uint8_t *p, size_t n, struct q3_frame *f, char *err, size_t err_size)
{
    gt_frame_header_t h;
    if (n < sizeof(h))
        return FAIL("FRAME: %zu bytes is shorter than its %zu-byte header", n, sizeof(h));
    memcpy(&h, p, sizeof(h));
    if (h.reserved2 || (h.flags & ~(GT_FRAME_CAPTURED | GT_FRAME_RESET)))
        return FAIL("FRAME %u: unknown flags %#x or reserved field %u", h.frame, h.flags, h.reserved2);
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
    int bad = usercmd_records(p, n, &pos, h.n_usercmds);
    if (bad)
        return bad < 0 ? FAIL("FRAME %u: truncated usercmd records", h.frame)
                       : FAIL("FRAME %u: usercmd record for client %d", h.frame, bad);
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
    f->n_applied = h.n_applied;
    f->applied = p + pos;
    bad = usercmd_records(p, n, &pos, h.n_applied);
    if (bad)
        return bad < 0 ? FAIL("FRAME %u: truncated applied-command records", h.frame)
                       : FAIL("FRAME %u: applied-command record for client %d", h.frame, bad);
    if (h.log_size != n - pos)
        return FAIL("FRAME %u: %zu bytes left for a %u-byte log", h.frame, n - pos, h.log_size);
    f->log = p + pos;
    f->log_size = h.log_size;
    return 0;
}
