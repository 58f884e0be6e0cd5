/* A small, bounds-checked subset of msgpack for the link's control messages:
 * write maps of string keys to integers, strings and booleans; read them back,
 * skipping (nested) values of other kinds. Never reads or writes out of bounds. */
#ifndef GT_MSGPACK_LITE_H
#define GT_MSGPACK_LITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow; /* set once a write did not fit; later writes are dropped */
} mp_writer;

void mp_writer_init(mp_writer *w, uint8_t *buf, size_t cap);
void mp_write_map(mp_writer *w, uint32_t entries);
void mp_write_str(mp_writer *w, const char *s);
void mp_write_strn(mp_writer *w, const char *s, size_t n);
void mp_write_int(mp_writer *w, int64_t v);
void mp_write_bool(mp_writer *w, int v);

typedef enum { MP_NIL, MP_BOOL, MP_INT, MP_STR, MP_OTHER } mp_kind;

typedef struct {
    mp_kind kind;
    int64_t i;       /* MP_INT and MP_BOOL */
    const char *s;   /* MP_STR: not NUL-terminated */
    uint32_t slen;
} mp_value;

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} mp_reader;

void mp_reader_init(mp_reader *r, const void *buf, size_t len);
/* Each returns 0 on success, -1 on malformed or truncated input. */
int mp_read_map(mp_reader *r, uint32_t *entries);
int mp_read_value(mp_reader *r, mp_value *v); /* compound values are skipped as MP_OTHER */
int mp_str_eq(const mp_value *v, const char *s);

#endif
