/* Unit tests for the link's msgpack subset, built with ASan/UBSan: round trips,
 * truncated and malformed input, and random bytes must never read out of bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/msgpack_lite.h"

static int failures;
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static size_t sample(uint8_t *buf, size_t cap)
{
    mp_writer w;
    mp_writer_init(&w, buf, cap);
    mp_write_map(&w, 5);
    mp_write_str(&w, "protocol");
    mp_write_int(&w, 1);
    mp_write_str(&w, "seed");
    mp_write_int(&w, 4000000000LL);
    mp_write_str(&w, "neg");
    mp_write_int(&w, -70000);
    mp_write_str(&w, "capture");
    mp_write_bool(&w, 1);
    mp_write_str(&w, "long");
    char text[300];
    memset(text, 'x', sizeof(text));
    mp_write_strn(&w, text, sizeof(text));
    return w.overflow ? 0 : w.len;
}

static void test_round_trip(void)
{
    uint8_t buf[512];
    size_t n = sample(buf, sizeof(buf));
    CHECK(n > 0);
    mp_reader r;
    uint32_t entries;
    mp_value k, v;
    mp_reader_init(&r, buf, n);
    CHECK(mp_read_map(&r, &entries) == 0 && entries == 5);
    CHECK(mp_read_value(&r, &k) == 0 && mp_str_eq(&k, "protocol"));
    CHECK(mp_read_value(&r, &v) == 0 && v.kind == MP_INT && v.i == 1);
    CHECK(mp_read_value(&r, &k) == 0 && mp_str_eq(&k, "seed"));
    CHECK(mp_read_value(&r, &v) == 0 && v.kind == MP_INT && v.i == 4000000000LL);
    CHECK(mp_read_value(&r, &k) == 0 && mp_str_eq(&k, "neg"));
    CHECK(mp_read_value(&r, &v) == 0 && v.kind == MP_INT && v.i == -70000);
    CHECK(mp_read_value(&r, &k) == 0 && mp_str_eq(&k, "capture"));
    CHECK(mp_read_value(&r, &v) == 0 && v.kind == MP_BOOL && v.i == 1);
    CHECK(mp_read_value(&r, &k) == 0 && mp_str_eq(&k, "long"));
    CHECK(mp_read_value(&r, &v) == 0 && v.kind == MP_STR && v.slen == 300);
}

static void test_overflowing_writer(void)
{
    uint8_t buf[16];
    CHECK(sample(buf, sizeof(buf)) == 0); /* reports overflow instead of writing past the end */
}

static void test_truncated(void)
{
    uint8_t buf[512];
    size_t n = sample(buf, sizeof(buf));
    for (size_t cut = 0; cut < n; cut++) {
        mp_reader r;
        uint32_t entries;
        mp_value v;
        int ok = 1;
        mp_reader_init(&r, buf, cut);
        if (mp_read_map(&r, &entries)) {
            ok = 0;
        } else {
            for (uint32_t i = 0; i < 2 * entries && ok; i++)
                ok = mp_read_value(&r, &v) == 0;
        }
        CHECK(!ok); /* every strict prefix is rejected */
    }
}

static void test_nested_and_depth(void)
{
    /* {"a": [1, {"b": nil}], "c": 2} : the compound value is skipped as MP_OTHER */
    const uint8_t doc[] = {0x82, 0xa1, 'a', 0x92, 0x01, 0x81, 0xa1, 'b', 0xc0, 0xa1, 'c', 0x02};
    mp_reader r;
    uint32_t entries;
    mp_value k, v;
    mp_reader_init(&r, doc, sizeof(doc));
    CHECK(mp_read_map(&r, &entries) == 0 && entries == 2);
    CHECK(mp_read_value(&r, &k) == 0 && mp_read_value(&r, &v) == 0 && v.kind == MP_OTHER);
    CHECK(mp_read_value(&r, &k) == 0 && mp_str_eq(&k, "c"));
    CHECK(mp_read_value(&r, &v) == 0 && v.i == 2);

    uint8_t deep[100];
    memset(deep, 0x91, sizeof(deep)); /* 100 nested one-element arrays */
    mp_reader_init(&r, deep, sizeof(deep));
    CHECK(mp_read_value(&r, &v) != 0); /* refused, not a stack overflow */
}

static void test_random_bytes(void)
{
    uint8_t buf[64];
    srand(12345);
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)(rand() % (int)sizeof(buf));
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        mp_reader r;
        uint32_t entries;
        mp_value v;
        mp_reader_init(&r, buf, n);
        if (mp_read_map(&r, &entries) == 0)
            for (uint32_t i = 0; i < 2 * entries && i < 64; i++)
                if (mp_read_value(&r, &v))
                    break;
    }
}

int main(void)
{
    test_round_trip();
    test_overflowing_writer();
    test_truncated();
    test_nested_and_depth();
    test_random_bytes();
    if (failures) {
        fprintf(stderr, "msgpack_lite: %d check(s) failed\n", failures);
        return 1;
    }
    printf("msgpack_lite: all checks passed\n");
    return 0;
}
