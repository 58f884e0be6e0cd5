/*
 * Virtual clock for LOCKSTEP matches. ioq3ded paces itself with gettimeofday
 * and waits in select (docs/abi.md, section "Time"). Here a wait returns
 * at once and moves the virtual clock by its timeout instead, so the game runs
 * as fast as the CPU allows while seeing exactly 1000/sv_fps ms per frame.
 * The clock starts at a fixed epoch so that runs repeat. With the clock off
 * (REALTIME, or no daemon) every call goes straight to libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "gt_internal.h"

static int vclock_on;
static int64_t vclock_us; /* microseconds since 1970 */

void gt_vclock_start(int64_t epoch_s)
{
    vclock_us = epoch_s * 1000000;
    vclock_on = 1;
}

static void advance(int64_t us)
{
    vclock_us += us;
}

__attribute__((visibility("default"))) int gettimeofday(struct timeval *tv, void *tz)
{
    gt_init_real();
    if (!vclock_on)
        return gt_real.gettimeofday(tv, tz);
    tv->tv_sec = vclock_us / 1000000; /* glibc declares tv nonnull */
    tv->tv_usec = vclock_us % 1000000;
    return 0;
}

__attribute__((visibility("default"))) int clock_gettime(clockid_t clk, struct timespec *ts)
{
    gt_init_real();
    if (!vclock_on || (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC &&
                       clk != CLOCK_MONOTONIC_RAW && clk != CLOCK_REALTIME_COARSE &&
                       clk != CLOCK_MONOTONIC_COARSE && clk != CLOCK_BOOTTIME))
        return gt_real.clock_gettime(clk, ts);
    ts->tv_sec = vclock_us / 1000000;
    ts->tv_nsec = (vclock_us % 1000000) * 1000;
    return 0;
}

__attribute__((visibility("default"))) time_t time(time_t *t)
{
    gt_init_real();
    if (!vclock_on)
        return gt_real.time(t);
    time_t now = (time_t)(vclock_us / 1000000);
    if (t)
        *t = now;
    return now;
}

/*
 * A wait: if something is ready right now, report it without moving the clock;
 * otherwise the timeout passes in virtual time. A zero-timeout poll moves the
 * clock by 1 ms, or Com_Frame's "wait for the last millisecond" loop would spin.
 */
__attribute__((visibility("default"))) int select(int nfds, fd_set *r, fd_set *w, fd_set *e,
                                                  struct timeval *tv)
{
    gt_init_real();
    if (!vclock_on || !tv)
        return gt_real.select(nfds, r, w, e, tv);
    struct timeval zero = {0, 0};
    int n = gt_real.select(nfds, r, w, e, &zero);
    if (n != 0)
        return n;
    int64_t us = (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
    advance(us < 1000 ? 1000 : us);
    tv->tv_sec = 0;
    tv->tv_usec = 0;
    return 0;
}

__attribute__((visibility("default"))) int usleep(useconds_t us)
{
    gt_init_real();
    if (!vclock_on)
        return gt_real.usleep(us);
    advance(us);
    return 0;
}

__attribute__((visibility("default"))) int nanosleep(const struct timespec *req,
                                                     struct timespec *rem)
{
    gt_init_real();
    if (!vclock_on)
        return gt_real.nanosleep(req, rem);
    if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000) {
        errno = EINVAL;
        return -1;
    }
    advance((int64_t)req->tv_sec * 1000000 + req->tv_nsec / 1000);
    if (rem)
        memset(rem, 0, sizeof(*rem));
    return 0;
}
