/*
 * One match's world, built from the game's raw frames: the current state kept as
 * serialized gametap.q3.v1 messages (one per player, entity and the match info), a
 * WorldUpdate delta per frame and keyframes, as server/gametap/q3/world.py documents.
 */
#ifndef Q3WORLD_H
#define Q3WORLD_H

#include "hp.h"

#define NPLAYERS Q3_MAX_CLIENTS
#define NENTITIES Q3_MAX_GENTITIES
#define BITSET_WORDS(n) (((n) + 63) / 64)

/* A serialized message and its version: a new version each time the bytes change, 0 when absent. */
struct hp_rec {
    struct gt_buffer bytes;
    uint32_t version;
};

/* What CS_PLAYERS+client says about a slot. */
struct q3_info {
    int present, is_bot;
    int32_t skill;
    struct gt_buffer name; /* without colour codes, valid UTF-8 */
};

/* A player's values as the Player message has them (also what features are computed from). */
struct q3_player {
    int32_t team, health, armor, weapon, score, deaths, ping, skill;
    int alive, crouched, on_ground;
    float origin[3], velocity[3], angles[3];
    int32_t ammo[Q3_NUM_WEAPONS];
    int32_t delta_angles[3];
};

/* An entity's values that features need. */
struct q3_entity {
    int32_t type, item_type;
    int hidden;
    float origin[3];
};

/* One decoded FRAME message: pointers into the link bytes, every count checked. */
struct q3_frame {
    uint32_t frame;
    int32_t level_time;
    uint16_t flags, n_players, n_entities, n_configstrings, n_commands, n_usercmds, n_visibility, n_applied;
    const uint8_t *players, *entities, *configstrings, *commands, *usercmds, *visibility, *applied, *log;
    uint32_t log_size;
};

struct q3_observer;

struct q3_world {
    int keyframe_interval, record;
    uint32_t frame, next_version;
    int32_t level_time, phase;
    int level_exited;

    char *cs[Q3_MAX_CONFIGSTRINGS];
    uint32_t cs_len[Q3_MAX_CONFIGSTRINGS];
    struct q3_info info[NPLAYERS];
    uint8_t row_present[NPLAYERS];
    uint8_t ps[NPLAYERS][Q3_PS_SIZE]; /* the last playerState the game sent for each slot */
    int32_t controller[NPLAYERS];     /* PBE_CONTROLLER_* of slots the daemon drives; 0: bot or human */
    uint64_t restamp;                 /* players to rebuild next frame (their controller changed) */
    uint8_t cmd[NPLAYERS][Q3_CMD_SIZE]; /* each player's last applied command (angles absolute) */
    uint8_t has_cmd[NPLAYERS];

    struct hp_rec player[NPLAYERS];
    struct q3_player pvalue[NPLAYERS];
    struct hp_rec entity[NENTITIES];
    struct q3_entity evalue[NENTITIES];
    struct hp_rec match;
    struct hp_blobs events; /* this frame's serialized events */

    struct gt_buffer log_carry, exit_reason; /* a game line not yet complete; the "Exit:" reason */

    /* Agents' inputs from the frames: each driven slot's bot AI command, what it sees. */
    uint8_t teacher[NPLAYERS][Q3_CMD_SIZE];
    uint8_t teacher_seen[NPLAYERS];
    uint64_t visible[NPLAYERS][BITSET_WORDS(NENTITIES)];
    uint8_t has_visible[NPLAYERS];

    /* Outputs of the frame applied last. */
    struct gt_buffer delta, keyframe, records;
    uint32_t delta_frame;
    int has_keyframe;

    struct {
        uint64_t frames, delta_bytes, keyframes, keyframe_bytes;
        uint64_t players_left; /* players removed so far (agents' slots are checked only when it moves) */
    } stats;

    struct q3_observer *observers; /* views that collect events between observations */
    struct gt_buffer scratch, scratch2, part[3]; /* work space, reused frame after frame */
};

/* Stores new bytes in a record; 1 if they differ from what it held (a new version). */
static inline int rec_store(struct q3_world *w, struct hp_rec *r, const uint8_t *p, size_t n)
{
    if (r->version && r->bytes.len == n && memcmp(r->bytes.data, p, n) == 0)
        return 0;
    r->bytes.len = 0;
    gt_buffer_append(&r->bytes, p, n);
    r->version = w->next_version++;
    return 1;
}

static inline void rec_drop(struct hp_rec *r)
{
    r->bytes.len = 0;
    r->version = 0;
}

void q3_world_init(struct q3_world *w, int keyframe_interval, int record);
void q3_world_free(struct q3_world *w);

/* Checks a FRAME payload; 0, or -1 with the reason in err. */
int q3_decode_frame(const uint8_t *p, size_t n, struct q3_frame *f, char *err, size_t err_size);

/* Applies one frame. Returns 1 if it was applied (w->delta, w->keyframe if has_keyframe,
 * w->records appended), 0 if the level has ended (the frame is not applied). */
int q3_apply_frame(struct q3_world *w, const struct q3_frame *f);

/* The current state: a serialized WorldState, or WorldUpdate{keyframe} (counted in stats). */
void q3_state(struct q3_world *w, struct gt_buffer *out, const uint64_t *visible); /* visible: NULL = all */
void q3_keyframe_update(struct q3_world *w, struct gt_buffer *out, int count);

void q3_set_controller(struct q3_world *w, int client, int32_t controller);

/* The parts of applying a frame (q3events.c: the game's text; q3records.c: players and entities). */
const char *q3_cs_text(const struct q3_world *w, int index, size_t *len);
uint64_t q3_apply_configstrings(struct q3_world *w, const struct q3_frame *f, int *match_dirty);
int q3_is_level_exit(const struct q3_frame *f);
void q3_add_client_event(struct q3_world *w, int kind, int client);
void q3_log_events(struct q3_world *w, const struct q3_frame *f);
int q3_update_match(struct q3_world *w, int dirty);
void q3_update_players(struct q3_world *w, uint64_t touched, struct gt_buffer *changed, uint64_t *removed,
                       size_t *n_removed);
void q3_update_entities(struct q3_world *w, const struct q3_frame *f, uint64_t *old, struct gt_buffer *changed,
                        struct gt_buffer *removed);
uint32_t hp_crc32(const uint8_t *p, size_t n); /* zlib's CRC-32, as Python's zlib.crc32 */
int q3_player_present(const struct q3_world *w, int client);

static inline int bit_test(const uint64_t *set, int i)
{
    return (int)((set[i >> 6] >> (i & 63)) & 1u);
}

static inline void bit_set(uint64_t *set, int i)
{
    set[i >> 6] |= 1ull << (i & 63);
}

#endif
