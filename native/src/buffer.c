#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "gt_internal.h"

int gt_buffer_reserve(struct gt_buffer *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int gt_buffer_append(struct gt_buffer *b, const void *src, size_t n)
{
    if (gt_buffer_reserve(b, n))
        return -1;
    if (n)
        memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}
