/*
 * The game's text, as OpenArena writes it: UTF-8 clean-up, ^colour codes, info
 * strings ("\key\value..."), and numbers in configstrings. Every function reads
 * only within the (pointer, length) it is given.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>

#include "hp.h"

static const uint8_t REPLACEMENT[3] = {0xEF, 0xBF, 0xBD}; /* U+FFFD */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if it is not one. */
static size_t utf8_sequence(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    uint32_t cp = c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void utf8_clean(struct gt_buffer *out, const char *text, size_t n)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0, run = 0; /* run: start of valid bytes not yet copied */
    while (i < n) {
        size_t k = utf8_sequence(s + i, n - i);
        if (k) {
            i += k;
            continue;
        }
        gt_buffer_append(out, s + run, i - run);
        gt_buffer_append(out, REPLACEMENT, sizeof(REPLACEMENT));
        run = ++i;
    }
    gt_buffer_append(out, s + run, n - run);
}

void strip_colours(struct gt_buffer *out, const char *text, size_t n)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    while (i < n) {
        if (s[i] == '^' && i + 1 < n && s[i + 1] != '^') { /* "^X": drop the caret and the character */
            size_t k = utf8_sequence(s + i + 1, n - i - 1);
            i += 1 + (k ? k : 1);
            continue;
        }
        gt_buffer_append(out, s + i, 1);
        i++;
    }
}

const char *info_value(const char *info, size_t n, const char *key, size_t *value_len)
{
    size_t key_len = strlen(key), i = 0;
    const char *found = NULL;
    if (n && info[0] == '\\')
        i = 1;
    while (i < n) { /* pairs of '\'-separated words: key, value */
        const char *k = info + i;
        const char *k_end = memchr(k, '\\', n - i);
        if (!k_end)
            break; /* a key without a value */
        const char *v = k_end + 1;
        const char *v_end = memchr(v, '\\', (size_t)(info + n - v));
        if (!v_end)
            v_end = info + n;
        if ((size_t)(k_end - k) == key_len && memcmp(k, key, key_len) == 0) {
            found = v;
            *value_len = (size_t)(v_end - v);
        }
        i = (size_t)(v_end - info) + 1;
    }
    return found;
}

int32_t text_to_int(const char *s, size_t n, int32_t fallback)
{
    char buf[64];
    while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n == 0 || n >= sizeof(buf))
        return fallback;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    double d = strtod(buf, &end);
    if (*end || !isfinite(d) || strpbrk(buf, "xX")) /* decimal numbers only */
        return fallback;
    d = nearbyint(d); /* halves to even */
    if (d > INT32_MAX)
        return INT32_MAX;
    if (d < INT32_MIN)
        return INT32_MIN;
    return (int32_t)d;
}
