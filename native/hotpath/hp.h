/*
 * The daemon's hot path (Python extension gametap.q3._hotpath): internal declarations.
 *
 * Why here, in the worker, and not inside the game: the world state must live where
 * keyframes are needed on demand (a new watcher, GetState, an agent's first view, the
 * final state after the game is gone), and where many agent streams take views of it.
 * Each worker is one process per core, so this work runs in parallel with the games,
 * while the game process only copies bytes (libgametap_q3) and can never be crashed
 * by a parser. See docs/hotpath.md.
 *
 * Facts come from generated headers: ABI offsets (gametap_q3_abi.h, from
 * server/gametap/q3/abi.py) and protobuf field numbers (gametap_pb.h, from proto/).
 */
#ifndef HP_H
#define HP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gametap_link.h"
#include "gametap_pb.h"
#include "gt_buffer.h"

/* ---- little-endian fields of the game's records (unaligned) ---- */

static inline int32_t rd_i32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline float rd_f32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint16_t rd_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* ---- protobuf wire format: writing (into a gt_buffer; check ->failed once at the end) ---- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Room for n more bytes at the end (NULL once an allocation failed): the buffer grows
 * rarely, so the common write is a check and a store, with no call. */
static inline uint8_t *pbw_room(struct gt_buffer *b, size_t n)
{
    if (b->cap - b->len < n && gt_buffer_reserve(b, n))
        return NULL;
    return b->data + b->len;
}

static inline void pbw_raw(struct gt_buffer *b, const void *p, size_t n)
{
    uint8_t *out = pbw_room(b, n);
    if (out && n) {
        memcpy(out, p, n);
        b->len += n;
    }
}

static inline void pbw_varint(struct gt_buffer *b, uint64_t v)
{
    uint8_t *out = pbw_room(b, 10), *p = out;
    if (!out)
        return;
    while (v > 0x7F) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    b->len += (size_t)(p - out);
}

static inline void pbw_tag(struct gt_buffer *b, int field, int wire_type)
{
    pbw_varint(b, ((uint64_t)field << 3) | (uint64_t)wire_type);
}

/* Scalars as proto3 writes them: a zero value is left out. */
static inline void pbw_uint(struct gt_buffer *b, int field, uint64_t v)
{
    if (v) {
        pbw_tag(b, field, WT_VARINT);
        pbw_varint(b, v);
    }
}

static inline void pbw_int32(struct gt_buffer *b, int field, int32_t v)
{
    pbw_uint(b, field, (uint64_t)(int64_t)v); /* negative: ten bytes, as protobuf does */
}

static inline uint32_t zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static inline void pbw_sint32(struct gt_buffer *b, int field, int32_t v)
{
    pbw_uint(b, field, zigzag32(v));
}

static inline void pbw_float(struct gt_buffer *b, int field, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    if (bits) { /* +0.0 is the default; -0.0 is not */
        pbw_tag(b, field, WT_I32);
        pbw_raw(b, &bits, 4);
    }
}

static inline void pbw_bytes(struct gt_buffer *b, int field, const void *p, size_t n)
{
    pbw_tag(b, field, WT_LEN);
    pbw_varint(b, n);
    pbw_raw(b, p, n);
}

static inline void pbw_string(struct gt_buffer *b, int field, const char *s, size_t n)
{
    if (n)
        pbw_bytes(b, field, s, n);
}

/* A nested message: pbw_begin writes the tag and keeps a byte for the length, which
 * pbw_end fills in (moving the body when the length needs more than one byte). */
static inline size_t pbw_begin(struct gt_buffer *b, int field)
{
    pbw_tag(b, field, WT_LEN);
    uint8_t *out = pbw_room(b, 1);
    if (out) {
        *out = 0;
        b->len++;
    }
    return b->len;
}

void pbw_end(struct gt_buffer *b, size_t body_start);

/* A packed repeated field of varints (left out when empty). */
void pbw_packed_uint(struct gt_buffer *b, int field, const uint64_t *values, size_t n);

/* ---- protobuf wire format: reading ---- */

struct pbr {
    const uint8_t *p, *end;
};

/* The next field: 1 (with its number, wire type and value, or the bytes data[0..len)),
 * 0 at the end, -1 if malformed (truncated, overlong varint, groups, a zero field number). */
int pbr_next(struct pbr *r, int *field, int *wire_type, uint64_t *v, const uint8_t **data, size_t *len);

/* ---- lists of serialized messages (a frame's events) ---- */

struct hp_blobs {
    struct gt_buffer data;
    uint32_t *off, *len;
    size_t n, cap;
};
void blobs_clear(struct hp_blobs *l);
void blobs_add(struct hp_blobs *l, const void *p, size_t n); /* sets l->data.failed on OOM */
void blobs_extend(struct hp_blobs *l, const struct hp_blobs *from);
void blobs_write(struct gt_buffer *b, int field, const struct hp_blobs *l); /* each as field */
void blobs_free(struct hp_blobs *l);

/* ---- per-stage timing (process-wide counters; read with _hotpath.timings()) ---- */

enum hp_stage {
    ST_LINK,      /* splitting link messages, checking FRAME layouts */
    ST_PLAYERS,   /* playerState -> Player */
    ST_ENTITIES,  /* entity records -> Entity */
    ST_TEXT,      /* configstrings, game log lines -> player info, match info, events */
    ST_ASSEMBLE,  /* deltas, keyframes, recording records */
    ST_OBSERVE,   /* agents' observations: views, teacher */
    ST_FEATURES,  /* feature tensors */
    ST_ACTIONS,   /* ActionBatch -> CONTROL records */
    ST_COUNT
};
extern const char *const hp_stage_names[ST_COUNT];
struct hp_timing {
    uint64_t calls, ns;
};
extern struct hp_timing hp_timings[ST_COUNT];
uint64_t hp_now_ns(void);

static inline void hp_time(enum hp_stage stage, uint64_t *since)
{
    uint64_t now = hp_now_ns();
    hp_timings[stage].calls++;
    hp_timings[stage].ns += now - *since;
    *since = now;
}

/* ---- text (q3text.c) ---- */

/* Valid UTF-8 from game text: each byte that does not start a valid sequence becomes U+FFFD. */
void utf8_clean(struct gt_buffer *out, const char *s, size_t n);
/* A player name without ^colour codes (input: valid UTF-8). */
void strip_colours(struct gt_buffer *out, const char *s, size_t n);
/* The value of `key` in an info string "\k\v\k\v" (the last one wins), or NULL. */
const char *info_value(const char *info, size_t n, const char *key, size_t *value_len);
/* round(float(text)) as the game's numbers mean it, or `fallback`; clamped to int32. */
int32_t text_to_int(const char *s, size_t n, int32_t fallback);

#define MAX_TEXT 65536 /* longest configstring or game log line kept */

#endif
