/*
 * gametap link protocol: libgametap_q3 (inside the game process) <-> gametap daemon.
 *
 * Transport: one SOCK_STREAM Unix socket, inherited by the game as file
 * descriptor $GAMETAP_LINK_FD. Every message is an 8-byte header followed by
 * `size` payload bytes. All integers are little-endian.
 *
 *   game -> daemon   HELLO (msgpack)   once, at library load
 *   daemon -> game   WELCOME (msgpack) run settings, or ERROR to refuse
 *   game -> daemon   MODULE (msgpack)  after every game module load: identity + ABI sizes
 *   daemon -> game   MODULE_OK (msgpack) {ok, reason}: the daemon knows this module (or not)
 *   game -> daemon   FRAME (binary)    after every GAME_RUN_FRAME
 *   daemon -> game   COMMAND (text)    a server console command
 *   daemon -> game   CONTROL (binary)  how far the game may run, and agents' commands
 *   game -> daemon   WAITING (binary)  the game finished a frame and waits to run the next
 *   game -> daemon   END (msgpack)     the game stops sending frames {reason, frame}
 *   either way       ERROR (msgpack)   {message}; the sender closes the link
 *
 * Python mirror: server/gametap/link/protocol.py (keep the two in step; the
 * version number changes with any layout change).
 */
#ifndef GAMETAP_LINK_H
#define GAMETAP_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "gametap_q3_abi.h" /* generated from server/gametap/q3/abi.py (docs/abi.md) */

#define GT_LINK_PROTOCOL_VERSION 3
#define GT_LINK_MAX_PAYLOAD (16u * 1024u * 1024u)

enum gt_msg_type {
    GT_MSG_HELLO = 1,
    GT_MSG_WELCOME = 2,
    GT_MSG_MODULE = 3,
    GT_MSG_MODULE_OK = 4,
    GT_MSG_FRAME = 5,
    GT_MSG_COMMAND = 6,
    GT_MSG_END = 7,
    GT_MSG_ERROR = 8,
    GT_MSG_CONTROL = 9,
    GT_MSG_WAITING = 10,
};

typedef struct {
    uint32_t size;     /* payload bytes after this header, <= GT_LINK_MAX_PAYLOAD */
    uint16_t type;     /* enum gt_msg_type */
    uint16_t reserved; /* 0 */
} gt_msg_header_t;

/* ---- FRAME payload --------------------------------------------------------
 * gt_frame_header_t, then n_players gt_player_record_t, then n_entities
 * gt_entity_record_t, then n_configstrings variable records
 * {uint16 index, uint16 length, length bytes of text}, then n_commands records
 * {uint16 length, length bytes} of console commands the game itself issued
 * (G_SEND_CONSOLE_COMMAND, e.g. "vstr nextmap" when its limits end the level),
 * then n_usercmds gt_usercmd_record_t (agents' teachers), then n_visibility
 * visibility records {uint16 client, uint16 count, count x uint16 entity number},
 * then n_applied gt_usercmd_record_t (every player's command as the game applied it,
 * for the clients whose command changed apart from serverTime),
 * then log_size bytes of the game's printed text (G_PRINT).
 * Text is what the game issued since the previous frame.
 */
enum gt_frame_flags {
    GT_FRAME_CAPTURED = 1u << 0, /* records are present (capture on) */
    GT_FRAME_RESET = 1u << 1,    /* first frame after a game module (re)load:
                                    forget all earlier entities/players/configstrings */
};

typedef struct {
    uint32_t frame;           /* 1, 2, ...: GAME_RUN_FRAME calls since the process started */
    int32_t level_time_ms;    /* the game's level time for this frame */
    uint16_t n_players;
    uint16_t n_entities;
    uint16_t n_configstrings;
    uint16_t flags;           /* enum gt_frame_flags */
    uint32_t log_size;
    uint16_t n_commands;
    uint16_t n_usercmds;
    uint16_t n_visibility;
    uint16_t n_applied;       /* players' applied commands that changed */
    uint32_t reserved2;       /* 0 */
} gt_frame_header_t;

/* The ABI regions the library copies (OpenArena 0.8.8 / ioquake3; docs/abi.md). */
#define GT_PLAYERSTATE_SIZE Q3_PS_SIZE   /* playerState_t: gclient_t bytes 0.. */
#define GT_ENTITYSTATE_SIZE Q3_ES_SIZE   /* entityState_t: gentity_t bytes 0.. */
#define GT_ENTITYSHARED_OFFSET Q3_GENTITY_SHARED_OFFSET /* entityShared_t from r.linked on
                                            (skips its unused entityState_t copy) */
#define GT_ENTITYSHARED_SIZE Q3_ESH_SIZE /* linked .. ownerNum */
#define GT_MAX_CLIENTS Q3_MAX_CLIENTS    /* entity slots 0..63 are client bodies: sent as players instead */
#define GT_MAX_GENTITIES Q3_MAX_GENTITIES
#define GT_USERCMD_SIZE Q3_CMD_SIZE      /* usercmd_t */

/* A player slot whose playerState changed. */
typedef struct {
    uint16_t client;
    uint16_t reserved;
    uint8_t ps[GT_PLAYERSTATE_SIZE];
} gt_player_record_t;

/* An entity (number >= 64) that changed or was unlinked (shared.linked == 0). */
typedef struct {
    uint16_t number;
    uint16_t reserved;
    uint8_t state[GT_ENTITYSTATE_SIZE];
    uint8_t shared[GT_ENTITYSHARED_SIZE];
} gt_entity_record_t;

/* A client's command: the bot AI's for a slot an agent drives, before the agent's replaced
 * it (the teacher, n_usercmds), or the one the game applied (n_applied). */
typedef struct {
    uint16_t client;
    uint16_t reserved;
    uint8_t usercmd[GT_USERCMD_SIZE];
} gt_usercmd_record_t;

/* ---- CONTROL payload (daemon -> game) -------------------------------------
 * gt_control_header_t, then n_actions gt_action_record_t. LOCKSTEP: the game
 * runs frames up to and including run_until, then sends WAITING {uint32 frame}
 * and blocks until a CONTROL lets it go on (GT_RUN_FREE: never blocks).
 * Actions stay in force until replaced; REALTIME games apply them at once.
 */
#define GT_RUN_FREE 0xFFFFFFFFu

enum gt_action_flags {
    GT_ACTION_OVERRIDE = 1u << 0,   /* drive the slot with this command (0: back to its bot AI) */
    GT_ACTION_VISIBILITY = 1u << 1, /* report what the slot sees, in FRAME visibility records */
};

typedef struct {
    uint32_t run_until;
    uint16_t n_actions;
    uint16_t reserved; /* 0 */
} gt_control_header_t;

typedef struct {
    uint32_t frame;   /* the frame just finished */
    uint32_t busy_us; /* wall time the game ran since it was last released (0 the first time) */
} gt_waiting_t;

typedef struct {
    uint8_t client;
    uint8_t flags;       /* enum gt_action_flags */
    uint8_t weapon;      /* WP_*; 0 keeps the current weapon */
    int8_t forward;      /* usercmd forwardmove, -127..127 */
    int8_t right;        /* rightmove */
    int8_t up;           /* upmove: + jump, - crouch */
    uint16_t buttons;    /* BUTTON_* */
    uint16_t angles[3];  /* absolute view angles (pitch, yaw, roll), 65536 = 360 degrees */
    uint16_t reserved;   /* 0 */
} gt_action_record_t;

_Static_assert(sizeof(gt_msg_header_t) == 8, "header layout");
_Static_assert(sizeof(gt_frame_header_t) == 32, "frame header layout");
_Static_assert(sizeof(gt_usercmd_record_t) == 28, "usercmd record layout");
_Static_assert(sizeof(gt_control_header_t) == 8, "control header layout");
_Static_assert(sizeof(gt_action_record_t) == 16, "action record layout");
_Static_assert(sizeof(gt_waiting_t) == 8, "waiting layout");
_Static_assert(offsetof(gt_frame_header_t, flags) == 14, "frame header layout");
_Static_assert(sizeof(gt_player_record_t) == 4 + GT_PLAYERSTATE_SIZE, "player record layout");
_Static_assert(sizeof(gt_entity_record_t) == 4 + GT_ENTITYSTATE_SIZE + GT_ENTITYSHARED_SIZE,
               "entity record layout");

#endif /* GAMETAP_LINK_H */
