/* Protobuf wire format helpers, lists of serialized messages, stage timers. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <time.h>

#include "hp.h"

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v > 0x7F) {
        v >>= 7;
        n++;
    }
    return n;
}

void pbw_end(struct gt_buffer *b, size_t body_start)
{
    if (b->failed)
        return;
    size_t len = b->len - body_start;
    size_t k = varint_size(len);
    if (k > 1) {
        if (gt_buffer_reserve(b, k - 1))
            return;
        memmove(b->data + body_start + k - 1, b->data + body_start, len);
        b->len += k - 1;
    }
    uint8_t *p = b->data + body_start - 1;
    uint64_t v = len;
    while (v > 0x7F) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p = (uint8_t)v;
}

void pbw_packed_uint(struct gt_buffer *b, int field, const uint64_t *values, size_t n)
{
    if (!n)
        return;
    size_t start = pbw_begin(b, field);
    for (size_t i = 0; i < n; i++)
        pbw_varint(b, values[i]);
    pbw_end(b, start);
}

static int read_varint(struct pbr *r, uint64_t *v)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t byte = *r->p++;
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *v = value;
            return 0;
        }
    }
    return -1; /* more than ten bytes */
}

int pbr_next(struct pbr *r, int *field, int *wire_type, uint64_t *v, const uint8_t **data, size_t *len)
{
    uint64_t key;
    if (r->p >= r->end)
        return 0;
    if (read_varint(r, &key) || (key >> 3) == 0 || (key >> 3) > 536870911u)
        return -1;
    *field = (int)(key >> 3);
    *wire_type = (int)(key & 7);
    switch (*wire_type) {
    case WT_VARINT:
        return read_varint(r, v) ? -1 : 1;
    case WT_I64:
        if (r->end - r->p < 8)
            return -1;
        memcpy(v, r->p, 8);
        r->p += 8;
        return 1;
    case WT_I32: {
        uint32_t u;
        if (r->end - r->p < 4)
            return -1;
        memcpy(&u, r->p, 4);
        *v = u;
        r->p += 4;
        return 1;
    }
    case WT_LEN: {
        uint64_t n;
        if (read_varint(r, &n) || n > (uint64_t)(r->end - r->p))
            return -1;
        *data = r->p;
        *len = (size_t)n;
        r->p += n;
        return 1;
    }
    default: /* groups (3, 4) and the unused 6, 7: no gametap message has them */
        return -1;
    }
}

/* ---- lists of serialized messages ---- */

void blobs_clear(struct hp_blobs *l)
{
    l->data.len = 0;
    l->n = 0;
}

void blobs_add(struct hp_blobs *l, const void *p, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint32_t *off = realloc(l->off, cap * sizeof(*off));
        if (off)
            l->off = off;
        uint32_t *len = realloc(l->len, cap * sizeof(*len));
        if (len)
            l->len = len;
        if (!off || !len) {
            l->data.failed = 1;
            return;
        }
        l->cap = cap;
    }
    if (l->data.len + n > UINT32_MAX) {
        l->data.failed = 1;
        return;
    }
    l->off[l->n] = (uint32_t)l->data.len;
    l->len[l->n] = (uint32_t)n;
    if (gt_buffer_append(&l->data, p, n) == 0)
        l->n++;
}

void blobs_extend(struct hp_blobs *l, const struct hp_blobs *from)
{
    for (size_t i = 0; i < from->n; i++)
        blobs_add(l, from->data.data + from->off[i], from->len[i]);
}

void blobs_write(struct gt_buffer *b, int field, const struct hp_blobs *l)
{
    for (size_t i = 0; i < l->n; i++)
        pbw_bytes(b, field, l->data.data + l->off[i], l->len[i]);
}

void blobs_free(struct hp_blobs *l)
{
    gt_buffer_free(&l->data);
    free(l->off);
    free(l->len);
    l->off = l->len = NULL;
    l->n = l->cap = 0;
}

/* ---- stage timers ---- */

const char *const hp_stage_names[ST_COUNT] = {
    "link", "players", "entities", "text", "assemble", "observe", "features", "actions",
};
struct hp_timing hp_timings[ST_COUNT];

uint64_t hp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- recording checksums ---- */

#include <zlib.h>

uint32_t hp_crc32(const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(0L, p, (uInt)n);
}
