/*
 * The link to the daemon: framing, buffering, the handshake and the dispatch
 * of what the daemon sends. Any failure ends the game cleanly with a message
 * (gt_link_fail); nothing here may crash the game.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gt_internal.h"
#include "msgpack_lite.h"

#define HANDSHAKE_TIMEOUT_MS 30000
#define AUTO_FLUSH_BYTES (512u * 1024u) /* below the 1 MiB send buffer asked for at start */

static int link_fd = -1;
static int link_dead;
static struct gt_buffer out, in;
#define reserve gt_buffer_reserve

int gt_link_alive(void)
{
    return link_fd >= 0 && !link_dead;
}

void gt_link_fail(const char *why)
{
    if (link_dead)
        return;
    link_dead = 1;
    if (link_fd >= 0)
        close(link_fd);
    gt_game_quit(why);
}

/* ---- sending ---- */

int gt_link_flush(void)
{
    size_t off = 0;
    if (!gt_link_alive())
        return -1;
    while (off < out.len) {
        ssize_t n = send(link_fd, out.data + off, out.len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            char why[160];
            snprintf(why, sizeof(why), "lost the link to the daemon (%s)", strerror(errno));
            out.len = 0;
            gt_link_fail(why);
            return -1;
        }
        off += (size_t)n;
    }
    out.len = 0;
    return 0;
}

int gt_link_send_parts(uint16_t type, const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    if (!gt_link_alive())
        return -1;
    gt_msg_header_t h = {alen + blen, type, 0};
    if ((uint64_t)alen + blen > GT_LINK_MAX_PAYLOAD ||
        reserve(&out, sizeof(h) + (size_t)alen + blen)) {
        gt_link_fail("a message to the daemon is too large");
        return -1;
    }
    memcpy(out.data + out.len, &h, sizeof(h));
    out.len += sizeof(h);
    if (alen)
        memcpy(out.data + out.len, a, alen);
    out.len += alen;
    if (blen)
        memcpy(out.data + out.len, b, blen);
    out.len += blen;
    if (out.len >= AUTO_FLUSH_BYTES)
        return gt_link_flush();
    return 0;
}

int gt_link_send(uint16_t type, const void *payload, uint32_t size)
{
    return gt_link_send_parts(type, payload, size, NULL, 0);
}

/* ---- receiving ---- */

/* Pops one complete message from the input buffer into *h / *payload (valid
 * until the next read). Returns 1 if one was there, 0 if not, -1 on a bad header. */
static size_t consumed;

static int pop_message(gt_msg_header_t *h, uint8_t **payload)
{
    if (consumed) { /* drop the message handed out last time */
        memmove(in.data, in.data + consumed, in.len - consumed);
        in.len -= consumed;
        consumed = 0;
    }
    if (in.len < sizeof(*h))
        return 0;
    memcpy(h, in.data, sizeof(*h));
    if (h->size > GT_LINK_MAX_PAYLOAD)
        return -1;
    if (in.len < sizeof(*h) + h->size)
        return 0;
    *payload = in.data + sizeof(*h);
    consumed = sizeof(*h) + h->size;
    return 1;
}

/* Reads what is available (waiting up to timeout_ms for something). Returns
 * -1 once the link is closed or broken (after failing the link). */
static int fill(int timeout_ms)
{
    struct pollfd p = {link_fd, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR)
        return 0;
    if (r <= 0)
        return r;
    if (reserve(&in, 65536)) {
        gt_link_fail("out of memory reading from the daemon");
        return -1;
    }
    ssize_t n = recv(link_fd, in.data + in.len, in.cap - in.len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        gt_link_fail(n == 0 ? "the daemon closed the link" : "lost the link to the daemon");
        return -1;
    }
    in.len += (size_t)n;
    return 1;
}

static void read_error_message(const uint8_t *p, uint32_t size, char *out_msg, size_t out_size)
{
    mp_reader r;
    uint32_t n;
    mp_value k, v;
    snprintf(out_msg, out_size, "the daemon sent an error");
    mp_reader_init(&r, p, size);
    if (mp_read_map(&r, &n))
        return;
    while (n--) {
        if (mp_read_value(&r, &k) || mp_read_value(&r, &v))
            return;
        if (mp_str_eq(&k, "message") && v.kind == MP_STR)
            snprintf(out_msg, out_size, "%.*s", (int)v.slen, v.s);
    }
}

/* Handles a message that may arrive at any time. Returns 0, or -1 after failing the link. */
static int dispatch_async(const gt_msg_header_t *h, const uint8_t *payload)
{
    char text[1100];
    switch (h->type) {
    case GT_MSG_COMMAND:
        if (h->size == 0 || h->size >= 1024 || memchr(payload, 0, h->size)) {
            gt_link_fail("the daemon sent a malformed console command");
            return -1;
        }
        memcpy(text, payload, h->size);
        text[h->size] = 0;
        gt_debug("console command: %s", text);
        gt_game_console(text);
        return 0;
    case GT_MSG_CONTROL:
        if (gt_agents_control(payload, h->size)) {
            gt_link_fail("the daemon sent a malformed CONTROL message");
            return -1;
        }
        return 0;
    case GT_MSG_ERROR:
        read_error_message(payload, h->size, text, sizeof(text));
        gt_link_fail(text);
        return -1;
    default:
        snprintf(text, sizeof(text), "the daemon sent an unexpected message (type %u)", h->type);
        gt_link_fail(text);
        return -1;
    }
}

/* Waits for a message of `want`, handling others on the way. Returns 1, or -1
 * on failure or timeout (after failing the link). */
static int wait_for(uint16_t want, gt_msg_header_t *h, uint8_t **payload, const char *what)
{
    for (;;) {
        int got = pop_message(h, payload);
        if (got < 0) {
            gt_link_fail("the daemon sent an oversized message");
            return -1;
        }
        if (got > 0) {
            if (h->type == want)
                return 1;
            if (dispatch_async(h, *payload))
                return -1;
            continue;
        }
        int r = fill(HANDSHAKE_TIMEOUT_MS);
        if (r < 0)
            return -1;
        if (r == 0) {
            char why[160];
            snprintf(why, sizeof(why), "no %s from the daemon within %d s", what,
                     HANDSHAKE_TIMEOUT_MS / 1000);
            gt_link_fail(why);
            return -1;
        }
    }
}

void gt_link_poll(int timeout_ms)
{
    gt_msg_header_t h;
    uint8_t *payload;
    if (!gt_link_alive() || fill(timeout_ms) < 0)
        return;
    while (gt_link_alive() && fill(0) > 0)
        ;
    for (;;) {
        int got = gt_link_alive() ? pop_message(&h, &payload) : 0;
        if (got == 0)
            return;
        if (got < 0) {
            gt_link_fail("the daemon sent an oversized message");
            return;
        }
        if (dispatch_async(&h, payload))
            return;
    }
}

/* ---- handshake ---- */

static int parse_welcome(const uint8_t *p, uint32_t size, char *err, size_t err_size)
{
    mp_reader r;
    uint32_t n;
    mp_value k, v;
    int64_t protocol = -1;
    mp_reader_init(&r, p, size);
    if (mp_read_map(&r, &n)) {
        snprintf(err, err_size, "malformed WELCOME from the daemon");
        return -1;
    }
    gt_cfg.flush_frames = 1;
    gt_cfg.run_until = GT_RUN_FREE;
    while (n--) {
        if (mp_read_value(&r, &k) || mp_read_value(&r, &v) || k.kind != MP_STR) {
            snprintf(err, err_size, "malformed WELCOME from the daemon");
            return -1;
        }
        if (mp_str_eq(&k, "protocol") && v.kind == MP_INT)
            protocol = v.i;
        else if (mp_str_eq(&k, "clock") && v.kind == MP_STR)
            gt_cfg.lockstep = mp_str_eq(&v, "lockstep");
        else if (mp_str_eq(&k, "capture") && v.kind == MP_BOOL)
            gt_cfg.capture = (int)v.i;
        else if (mp_str_eq(&k, "seed") && v.kind == MP_INT)
            gt_cfg.seed = (uint32_t)v.i;
        else if (mp_str_eq(&k, "epoch_s") && v.kind == MP_INT)
            gt_cfg.epoch_s = v.i;
        else if (mp_str_eq(&k, "max_frames") && v.kind == MP_INT && v.i >= 0)
            gt_cfg.max_frames = (uint64_t)v.i;
        else if (mp_str_eq(&k, "flush_frames") && v.kind == MP_INT && v.i > 0)
            gt_cfg.flush_frames = (uint32_t)v.i;
        else if (mp_str_eq(&k, "run_until") && v.kind == MP_INT && v.i >= 0 && v.i <= GT_RUN_FREE)
            gt_cfg.run_until = (uint32_t)v.i;
    }
    if (protocol != GT_LINK_PROTOCOL_VERSION) {
        snprintf(err, err_size, "the daemon speaks link protocol %lld, this library %d",
                 (long long)protocol, GT_LINK_PROTOCOL_VERSION);
        return -1;
    }
    return 0;
}

static void send_error(const char *message)
{
    uint8_t buf[600];
    mp_writer w;
    mp_writer_init(&w, buf, sizeof(buf));
    mp_write_map(&w, 1);
    mp_write_str(&w, "message");
    mp_write_strn(&w, message, strnlen(message, 500));
    gt_link_send(GT_MSG_ERROR, buf, (uint32_t)w.len);
    gt_link_flush();
}

int gt_link_open_from_env(void)
{
    const char *env = getenv("GAMETAP_LINK_FD");
    char err[300];
    uint8_t buf[256];
    mp_writer w;
    gt_msg_header_t h;
    uint8_t *payload;

    if (!env || !*env)
        return 0;
    link_fd = atoi(env);
    if (link_fd < 0 || fcntl(link_fd, F_GETFD) < 0) {
        gt_warn("GAMETAP_LINK_FD=%s is not an open descriptor", env);
        _exit(1);
    }
    fcntl(link_fd, F_SETFD, FD_CLOEXEC);
    int sndbuf = 1 << 20;
    setsockopt(link_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

    mp_writer_init(&w, buf, sizeof(buf));
    mp_write_map(&w, 3);
    mp_write_str(&w, "protocol");
    mp_write_int(&w, GT_LINK_PROTOCOL_VERSION);
    mp_write_str(&w, "pid");
    mp_write_int(&w, getpid());
    mp_write_str(&w, "library");
    mp_write_str(&w, "libgametap_q3");
    if (gt_link_send(GT_MSG_HELLO, buf, (uint32_t)w.len) || gt_link_flush() ||
        wait_for(GT_MSG_WELCOME, &h, &payload, "WELCOME") < 0)
        _exit(1); /* gt_link_fail said why */
    if (parse_welcome(payload, h.size, err, sizeof(err))) {
        send_error(err);
        gt_warn("%s", err);
        _exit(1);
    }
    gt_debug("link up: clock=%s capture=%d seed=%u max_frames=%llu",
             gt_cfg.lockstep ? "lockstep" : "realtime", gt_cfg.capture, gt_cfg.seed,
             (unsigned long long)gt_cfg.max_frames);
    return 1;
}

int gt_link_check_module(const char *path, const char *build_id, int gentity_size,
                         int gclient_size, char *reason, size_t reason_size)
{
    uint8_t buf[1024];
    mp_writer w;
    gt_msg_header_t h;
    uint8_t *payload;
    mp_reader r;
    uint32_t n;
    mp_value k, v;
    int ok = 0;

    mp_writer_init(&w, buf, sizeof(buf));
    mp_write_map(&w, 4);
    mp_write_str(&w, "path");
    mp_write_strn(&w, path, strnlen(path, 500));
    mp_write_str(&w, "build_id");
    mp_write_str(&w, build_id);
    mp_write_str(&w, "gentity_size");
    mp_write_int(&w, gentity_size);
    mp_write_str(&w, "gclient_size");
    mp_write_int(&w, gclient_size);
    if (gt_link_send(GT_MSG_MODULE, buf, (uint32_t)w.len) || gt_link_flush() ||
        wait_for(GT_MSG_MODULE_OK, &h, &payload, "answer about the game module") < 0)
        return -1;
    mp_reader_init(&r, payload, h.size);
    if (mp_read_map(&r, &n))
        return -1;
    while (n--) {
        if (mp_read_value(&r, &k) || mp_read_value(&r, &v))
            return -1;
        if (mp_str_eq(&k, "ok") && v.kind == MP_BOOL)
            ok = (int)v.i;
        else if (mp_str_eq(&k, "reason") && v.kind == MP_STR)
            snprintf(reason, reason_size, "%.*s", (int)v.slen, v.s);
    }
    return ok ? 0 : -1;
}

void gt_link_end(const char *reason, uint32_t frame)
{
    uint8_t buf[256];
    mp_writer w;
    mp_writer_init(&w, buf, sizeof(buf));
    mp_write_map(&w, 2);
    mp_write_str(&w, "reason");
    mp_write_str(&w, reason);
    mp_write_str(&w, "frame");
    mp_write_int(&w, frame);
    gt_link_send(GT_MSG_END, buf, (uint32_t)w.len);
    gt_link_flush();
}
