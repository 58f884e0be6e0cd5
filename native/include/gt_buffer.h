/* Growable byte buffers, shared by libgametap_q3 and the daemon's hot path. */
#ifndef GT_BUFFER_H
#define GT_BUFFER_H

#include <stddef.h>
#include <stdint.h>

struct gt_buffer {
    uint8_t *data;
    size_t len;
    size_t cap;
    int failed; /* an allocation failed: later appends do nothing (check once, at the end) */
};
int gt_buffer_reserve(struct gt_buffer *b, size_t extra); /* 0, or -1 out of memory */
int gt_buffer_append(struct gt_buffer *b, const void *src, size_t n);
void gt_buffer_free(struct gt_buffer *b);

#endif
