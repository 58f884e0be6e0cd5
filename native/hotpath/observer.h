/*
 * What one agent stream observes (server/gametap/agents/session.py drives it): per
 * observation one serialized PlayResponse{observation}, with the whole world for the
 * stream's FULL slots, each PVS slot's own view, every slot's teacher action and,
 * when asked for, the feature tensor of every slot.
 */
#ifndef OBSERVER_H
#define OBSERVER_H

#include "q3world.h"

/* A view: what an observer last sent of the world, so the next observation is a delta. */
struct q3_view {
    int64_t frame; /* the frame of the last observation; -1: none yet (the next is a keyframe) */
    uint32_t player_version[NPLAYERS];
    uint32_t entity_version[NENTITIES];
    uint32_t match_version;
    struct hp_blobs events; /* events of the frames since the last observation */
};

struct q3_slot {
    int client, pvs;
    struct q3_view *view; /* PVS slots with structured observations */
};

struct q3_observer {
    struct q3_world *world;
    struct q3_observer *next; /* in world->observers */
    int frames_per_step, structured, features, any_full;
    struct q3_view *world_view; /* the FULL slots' shared view */
    struct q3_slot slots[NPLAYERS];
    int n_slots;
    struct gt_buffer out, scratch;
};

struct q3_observer *q3_observer_new(struct q3_world *w, int frames_per_step, int structured, int features);
void q3_observer_free(struct q3_observer *o);
/* The stream's slots now, in order: clients[i] with pvs[i]. -1 on bad input. */
int q3_observer_set_slots(struct q3_observer *o, const int *clients, const int *pvs, int n);
/* The observation of the current frame into o->out (a serialized PlayResponse). */
void q3_observer_observe(struct q3_observer *o, int final, uint32_t game_us, const int *left, int n_left);
/* Views forget what they sent: the next observation starts from keyframes. */
void q3_observer_resync(struct q3_observer *o);
/* Each frame's events, for the views that observe every k frames (called by the world). */
void q3_observers_collect(struct q3_world *w);

/* ActionBatch bytes -> CONTROL action records in o->out; returns 0, or -1 with the
 * offending field in field[] and the reason in message[]. */
int q3_observer_actions(struct q3_observer *o, const uint8_t *p, size_t n, uint64_t *frame, char *field,
                        size_t field_size, char *message, size_t message_size);
/* Flat actions (VectorRequest.action_rows): PBE_ACTION_ROW_SIZE little-endian float32 per
 * slot, in slot order; n is in bytes. The records are in o->out. */
int q3_observer_action_rows(struct q3_observer *o, const uint8_t *p, size_t n, char *field, size_t field_size,
                            char *message, size_t message_size);
/* Records that hold each slot still, looking where its player looks (at activation). */
void q3_observer_hold_records(struct q3_observer *o);

/* Feature tensor of one player's view (layout: gametap_features.h, from client/features.py). */
void q3_features(const struct q3_world *w, int client, const uint64_t *visible, float *out);

#endif
