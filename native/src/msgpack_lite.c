#include "msgpack_lite.h"

#include <string.h>

#define MP_MAX_DEPTH 16

void mp_writer_init(mp_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
}

static void put(mp_writer *w, const void *src, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->len, src, n);
    w->len += n;
}

static void put_be(mp_writer *w, uint8_t tag, uint64_t v, int bytes)
{
    uint8_t out[9];
    out[0] = tag;
    for (int i = 0; i < bytes; i++)
        out[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    put(w, out, (size_t)bytes + 1);
}

void mp_write_map(mp_writer *w, uint32_t entries)
{
    if (entries < 16) {
        uint8_t b = (uint8_t)(0x80 | entries);
        put(w, &b, 1);
    } else if (entries <= 0xffff) {
        put_be(w, 0xde, entries, 2);
    } else {
        put_be(w, 0xdf, entries, 4);
    }
}

void mp_write_strn(mp_writer *w, const char *s, size_t n)
{
    if (n < 32) {
        uint8_t b = (uint8_t)(0xa0 | n);
        put(w, &b, 1);
    } else if (n <= 0xff) {
        put_be(w, 0xd9, n, 1);
    } else if (n <= 0xffff) {
        put_be(w, 0xda, n, 2);
    } else {
        put_be(w, 0xdb, n, 4);
    }
    put(w, s, n);
}

void mp_write_str(mp_writer *w, const char *s)
{
    mp_write_strn(w, s, strlen(s));
}

void mp_write_int(mp_writer *w, int64_t v)
{
    if (v >= 0 && v < 128) {
        uint8_t b = (uint8_t)v;
        put(w, &b, 1);
    } else if (v < 0 && v >= -32) {
        uint8_t b = (uint8_t)(int8_t)v;
        put(w, &b, 1);
    } else if (v >= 0) {
        put_be(w, 0xcf, (uint64_t)v, 8);
    } else {
        put_be(w, 0xd3, (uint64_t)v, 8);
    }
}

void mp_write_bool(mp_writer *w, int v)
{
    uint8_t b = v ? 0xc3 : 0xc2;
    put(w, &b, 1);
}

void mp_reader_init(mp_reader *r, const void *buf, size_t len)
{
    r->p = buf;
    r->end = r->p + len;
}

static int take(mp_reader *r, size_t n, const uint8_t **out)
{
    if ((size_t)(r->end - r->p) < n)
        return -1;
    *out = r->p;
    r->p += n;
    return 0;
}

static int take_be(mp_reader *r, int bytes, uint64_t *v)
{
    const uint8_t *b;
    if (take(r, (size_t)bytes, &b))
        return -1;
    *v = 0;
    for (int i = 0; i < bytes; i++)
        *v = (*v << 8) | b[i];
    return 0;
}

static int read_value(mp_reader *r, mp_value *v, int depth);

static int skip_items(mp_reader *r, uint64_t count, int depth)
{
    mp_value ignored;
    for (uint64_t i = 0; i < count; i++)
        if (read_value(r, &ignored, depth + 1))
            return -1;
    return 0;
}

static int read_str(mp_reader *r, mp_value *v, uint64_t n)
{
    const uint8_t *b;
    if (n > UINT32_MAX || take(r, (size_t)n, &b))
        return -1;
    v->kind = MP_STR;
    v->s = (const char *)b;
    v->slen = (uint32_t)n;
    return 0;
}

static int skip_bytes(mp_reader *r, mp_value *v, uint64_t n)
{
    const uint8_t *b;
    v->kind = MP_OTHER;
    return take(r, (size_t)n, &b);
}

static int read_value(mp_reader *r, mp_value *v, int depth)
{
    const uint8_t *tp;
    uint64_t n;
    if (depth > MP_MAX_DEPTH || take(r, 1, &tp))
        return -1;
    uint8_t t = *tp;
    memset(v, 0, sizeof(*v));
    if (t <= 0x7f) {
        v->kind = MP_INT;
        v->i = t;
        return 0;
    }
    if (t >= 0xe0) {
        v->kind = MP_INT;
        v->i = (int8_t)t;
        return 0;
    }
    if ((t & 0xe0) == 0xa0)
        return read_str(r, v, t & 0x1f);
    if ((t & 0xf0) == 0x80) {
        v->kind = MP_OTHER;
        return skip_items(r, 2u * (t & 0x0f), depth);
    }
    if ((t & 0xf0) == 0x90) {
        v->kind = MP_OTHER;
        return skip_items(r, t & 0x0f, depth);
    }
    switch (t) {
    case 0xc0: v->kind = MP_NIL; return 0;
    case 0xc2: v->kind = MP_BOOL; v->i = 0; return 0;
    case 0xc3: v->kind = MP_BOOL; v->i = 1; return 0;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int bytes = 1 << (t - 0xcc);
        if (take_be(r, bytes, &n) || n > INT64_MAX)
            return -1;
        v->kind = MP_INT;
        v->i = (int64_t)n;
        return 0;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int bytes = 1 << (t - 0xd0);
        if (take_be(r, bytes, &n))
            return -1;
        int shift = 64 - 8 * bytes; /* sign-extend */
        v->kind = MP_INT;
        v->i = shift ? (int64_t)(n << shift) >> shift : (int64_t)n;
        return 0;
    }
    case 0xd9: case 0xda: case 0xdb:
        if (take_be(r, 1 << (t - 0xd9), &n))
            return -1;
        return read_str(r, v, n);
    case 0xc4: case 0xc5: case 0xc6: /* bin */
        if (take_be(r, 1 << (t - 0xc4), &n))
            return -1;
        return skip_bytes(r, v, n);
    case 0xca: return skip_bytes(r, v, 4); /* float32 */
    case 0xcb: return skip_bytes(r, v, 8); /* float64 */
    case 0xdc: case 0xdd: /* array16/32 */
        if (take_be(r, t == 0xdc ? 2 : 4, &n))
            return -1;
        v->kind = MP_OTHER;
        return skip_items(r, n, depth);
    case 0xde: case 0xdf: /* map16/32 */
        if (take_be(r, t == 0xde ? 2 : 4, &n))
            return -1;
        v->kind = MP_OTHER;
        return skip_items(r, 2 * n, depth);
    default: /* ext types and the never-used 0xc1 */
        return -1;
    }
}

int mp_read_value(mp_reader *r, mp_value *v)
{
    return read_value(r, v, 0);
}

int mp_read_map(mp_reader *r, uint32_t *entries)
{
    const uint8_t *tp;
    uint64_t n;
    if (take(r, 1, &tp))
        return -1;
    if ((*tp & 0xf0) == 0x80) {
        *entries = *tp & 0x0f;
        return 0;
    }
    if (*tp == 0xde || *tp == 0xdf) {
        if (take_be(r, *tp == 0xde ? 2 : 4, &n))
            return -1;
        *entries = (uint32_t)n;
        return 0;
    }
    return -1;
}

int mp_str_eq(const mp_value *v, const char *s)
{
    size_t n = strlen(s);
    return v->kind == MP_STR && v->slen == n && memcmp(v->s, s, n) == 0;
}
