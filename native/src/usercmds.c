/*
 * Every player's command, as the game applied it: what the archive records (humans',
 * bots' and agents' alike). The game fetches a client's command with G_GET_USERCMD
 * (syscall 36) for humans once per command packet, for bots once per BOTAI_START_FRAME;
 * it is read here after an agent's rewrite, so it is what the player's move used.
 * The angles are stored absolute (the command's plus the player's delta_angles at that
 * moment, masked to 16 bits: what the game's pmove turns the view to), so an agent's
 * recorded command shows the angles it sent. A frame carries a client's command when it
 * differs from the one last sent, ignoring serverTime (which moves every frame).
 */
#define _GNU_SOURCE
#include <string.h>

#include "gt_internal.h"

static uint8_t latest[GT_MAX_CLIENTS][GT_USERCMD_SIZE]; /* the last command the game fetched */
static uint8_t sent[GT_MAX_CLIENTS][GT_USERCMD_SIZE];
static uint8_t fetched[GT_MAX_CLIENTS], was_sent[GT_MAX_CLIENTS];

void gt_usercmds_applied(int client, const uint8_t *cmd)
{
    if (client < 0 || client >= GT_MAX_CLIENTS)
        return;
    const struct gt_game_data *g = gt_game_data();
    if (!g->gclients) /* not located yet: no delta_angles to make the angles absolute with */
        return;
    uint8_t *keep = latest[client];
    memcpy(keep, cmd, GT_USERCMD_SIZE);
    const uint8_t *ps = g->gclients + (size_t)client * (size_t)g->gclient_size;
    for (int i = 0; i < 3; i++) {
        int32_t angle, delta;
        memcpy(&angle, keep + Q3_CMD_ANGLES + 4 * i, sizeof(angle));
        memcpy(&delta, ps + Q3_PS_DELTA_ANGLES + 4 * i, sizeof(delta));
        angle = (int32_t)(((uint32_t)angle + (uint32_t)delta) & 0xFFFFu);
        memcpy(keep + Q3_CMD_ANGLES + 4 * i, &angle, sizeof(angle));
    }
    fetched[client] = 1;
}

void gt_usercmds_forget(int client)
{
    if (client >= 0 && client < GT_MAX_CLIENTS)
        fetched[client] = was_sent[client] = 0;
}

void gt_usercmds_reset(void)
{
    memset(fetched, 0, sizeof(fetched));
    memset(was_sent, 0, sizeof(was_sent));
}

static int changed(int c)
{
    return !was_sent[c] ||
           memcmp(latest[c] + Q3_CMD_ANGLES, sent[c] + Q3_CMD_ANGLES, GT_USERCMD_SIZE - Q3_CMD_ANGLES) != 0;
}

uint16_t gt_usercmds_frame_records(struct gt_buffer *out)
{
    _Static_assert(Q3_CMD_SERVERTIME == 0 && Q3_CMD_ANGLES == 4, "serverTime leads usercmd_t");
    uint16_t n = 0;
    for (int c = 0; c < GT_MAX_CLIENTS; c++) {
        if (!fetched[c] || !changed(c))
            continue;
        gt_usercmd_record_t rec = {(uint16_t)c, 0, {0}};
        memcpy(rec.usercmd, latest[c], GT_USERCMD_SIZE);
        gt_buffer_append(out, &rec, sizeof(rec));
        memcpy(sent[c], latest[c], GT_USERCMD_SIZE);
        was_sent[c] = 1;
        n++;
    }
    return n;
}
