/*
 * Stock clients' connection attempts that end before the player enters the game.
 *
 * The engine keeps such a slot until sv_timeout. OpenArena's ClientConnect refuses a
 * newcomer whose cl_guid another connected slot holds ("Duplicate GUID") unless that slot
 * is lagging (ps.ping >= 999), which it then drops as a "Ghost". The engine only writes
 * ps.ping for clients in the game, so a slot that never got there never looks lagging, and
 * its owner's every retry from a new port is refused. Before a human's GAME_CLIENT_CONNECT,
 * every other human slot that has not begun is marked lagging, so the game's own rule
 * drops a stale attempt of the same player (docs/abi.md, "Stock clients").
 */
#define _GNU_SOURCE
#include <string.h>

#include "gt_internal.h"

#define LAGGING_PING 999

static uint8_t connecting[GT_MAX_CLIENTS]; /* a human who connected and has not begun */

void gt_humans_connect(int client, int is_bot)
{
    if (client < 0 || client >= GT_MAX_CLIENTS)
        return;
    const struct gt_game_data *g = gt_game_data();
    for (int i = 0; i < g->max_clients && g->gclients; i++) {
        if (i == client || !connecting[i])
            continue;
        int32_t ping = LAGGING_PING;
        memcpy(g->gclients + (size_t)i * (size_t)g->gclient_size + Q3_PS_PING, &ping, sizeof(ping));
    }
    connecting[client] = !is_bot;
}

void gt_humans_begin(int client)
{
    if (client >= 0 && client < GT_MAX_CLIENTS)
        connecting[client] = 0;
}

void gt_humans_disconnect(int client)
{
    gt_humans_begin(client);
}
