#include <stdlib.h>
#include <string.h>

#include "gt_buffer.h"

int gt_buffer_reserve(struct gt_buffer *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
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

void gt_buffer_free(struct gt_buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
