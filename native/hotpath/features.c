/*
 * The feature tensor of one player's view, computed from the world's decoded records.
 * Same arithmetic, in the same order, as the reference gametap.client.features.encode
 * (double precision, one rounding to float32, ties in distance to the lower number),
 * so the two agree bit for bit; built with -ffp-contract=off so that no step fuses.
 */
#define _GNU_SOURCE
#include <math.h>

#include "gametap_features.h"
#include "observer.h"

#define DEG2RAD (3.14159265358979323846 / 180.0) /* what Python's math.radians multiplies by */
#define MAX_NEAREST (FEAT_NEAREST_PLAYERS > FEAT_NEAREST_ITEMS ? FEAT_NEAREST_PLAYERS : FEAT_NEAREST_ITEMS)

struct near {
    double rel[4]; /* forward, left, up, distance */
    int id;
};

/* Keeps the k nearest by (distance, id); ids arrive in increasing order. */
static void keep_nearest(struct near *best, int *n, int k, const struct near *candidate)
{
    int i = *n < k ? (*n)++ : k;
    while (i > 0 && best[i - 1].rel[3] > candidate->rel[3]) { /* equal distance: the earlier id stays first */
        if (i < k)
            best[i] = best[i - 1];
        i--;
    }
    if (i < k)
        best[i] = *candidate;
}

static void relative(const float point[3], const struct q3_player *me, double c, double s, struct near *out)
{
    double dx = ((double)point[0] - (double)me->origin[0]) / 1000.0;
    double dy = ((double)point[1] - (double)me->origin[1]) / 1000.0;
    double dz = ((double)point[2] - (double)me->origin[2]) / 1000.0;
    out->rel[0] = dx * c + dy * s;
    out->rel[1] = -dx * s + dy * c;
    out->rel[2] = dz;
    out->rel[3] = sqrt(dx * dx + dy * dy + dz * dz);
}

static float clip(double v)
{
    float f = (float)v;
    return f < -FEAT_LIMIT ? -FEAT_LIMIT : f > FEAT_LIMIT ? FEAT_LIMIT : f; /* NaN stays NaN, as np.clip */
}

void q3_features(const struct q3_world *w, int client, const uint64_t *visible, float *out)
{
    memset(out, 0, FEAT_SIZE * sizeof(float));
    if (!q3_player_present(w, client))
        return;
    const struct q3_player *me = &w->pvalue[client];
    double yaw = (double)me->angles[1] * DEG2RAD, c = cos(yaw), s = sin(yaw);
    int32_t ammo = me->weapon >= 0 && me->weapon < Q3_NUM_WEAPONS ? me->ammo[me->weapon] : 0;
    double self[FEAT_SELF_SIZE];
    self[FEAT_SELF_HEALTH] = me->health / 100.0;
    self[FEAT_SELF_ARMOR] = me->armor / 100.0;
    self[FEAT_SELF_ALIVE] = me->alive;
    self[FEAT_SELF_ON_GROUND] = me->on_ground;
    self[FEAT_SELF_CROUCHED] = me->crouched;
    self[FEAT_SELF_X] = me->origin[0] / 1000.0;
    self[FEAT_SELF_Y] = me->origin[1] / 1000.0;
    self[FEAT_SELF_Z] = me->origin[2] / 1000.0;
    self[FEAT_SELF_VX] = me->velocity[0] / 320.0;
    self[FEAT_SELF_VY] = me->velocity[1] / 320.0;
    self[FEAT_SELF_VZ] = me->velocity[2] / 320.0;
    self[FEAT_SELF_SIN_YAW] = s;
    self[FEAT_SELF_COS_YAW] = c;
    self[FEAT_SELF_PITCH] = me->angles[0] / 90.0;
    self[FEAT_SELF_WEAPON] = me->weapon / 13.0;
    self[FEAT_SELF_AMMO] = ammo < 0 ? 1.0 : ammo / 100.0;
    self[FEAT_SELF_SCORE] = me->score / 10.0;
    for (int i = 0; i < FEAT_SELF_SIZE; i++)
        out[FEAT_SELF_FIRST + i] = clip(self[i]);

    struct near best[MAX_NEAREST], candidate;
    int n = 0;
    for (int p = 0; p < NPLAYERS; p++) {
        if (p == client || !q3_player_present(w, p) || (visible && !bit_test(visible, p)) ||
            w->pvalue[p].team == PBE_TEAM_SPECTATOR)
            continue;
        relative(w->pvalue[p].origin, me, c, s, &candidate);
        candidate.id = p;
        keep_nearest(best, &n, FEAT_NEAREST_PLAYERS, &candidate);
    }
    for (int k = 0; k < n; k++) {
        const struct q3_player *other = &w->pvalue[best[k].id];
        float *row = out + FEAT_PLAYERS_FIRST + k * FEAT_PLAYER_SIZE;
        int enemy = me->team == PBE_TEAM_FREE || other->team != me->team;
        row[FEAT_PLAYER_PRESENT] = 1.0f;
        for (int i = 0; i < 4; i++)
            row[FEAT_PLAYER_FORWARD + i] = clip(best[k].rel[i]);
        row[FEAT_PLAYER_HEALTH] = clip(other->health / 100.0);
        row[FEAT_PLAYER_ALIVE] = (float)other->alive;
        row[FEAT_PLAYER_ENEMY] = (float)enemy;
    }

    n = 0;
    for (int e = NPLAYERS; e < NENTITIES; e++) {
        const struct q3_entity *item = &w->evalue[e];
        if (!w->entity[e].version || (visible && !bit_test(visible, e)) || item->type != PBE_ENTITY_TYPE_ITEM ||
            item->hidden)
            continue;
        relative(item->origin, me, c, s, &candidate);
        candidate.id = e;
        keep_nearest(best, &n, FEAT_NEAREST_ITEMS, &candidate);
    }
    for (int k = 0; k < n; k++) {
        int32_t type = w->evalue[best[k].id].item_type;
        float *row = out + FEAT_ITEMS_FIRST + k * FEAT_ITEM_SIZE;
        row[FEAT_ITEM_PRESENT] = 1.0f;
        for (int i = 0; i < 4; i++)
            row[FEAT_ITEM_FORWARD + i] = clip(best[k].rel[i]);
        row[type == PBE_ITEM_TYPE_WEAPON ? FEAT_ITEM_IS_WEAPON
            : type == PBE_ITEM_TYPE_HEALTH ? FEAT_ITEM_IS_HEALTH
            : type == PBE_ITEM_TYPE_ARMOR ? FEAT_ITEM_IS_ARMOR : FEAT_ITEM_IS_OTHER] = 1.0f;
    }
}
