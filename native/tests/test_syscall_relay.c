/* gt_relay_syscall (src/syscall_relay.c): every argument reaches the engine or the watched
 * handler as the game passed it, return values come back, and the callee sees an aligned stack. */
#define _GNU_SOURCE
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../src/gt_internal.h"

#define NARGS 15 /* after cmd, as the engine's VM_DllSyscall reads them */

static intptr_t seen[1 + NARGS];
static int engine_calls, watched_calls;
static uintptr_t seen_sp;

static uintptr_t stack_pointer(void)
{
    return (uintptr_t)__builtin_frame_address(0);
}

/* The engine's side, as ioquake3's VM_DllSyscall reads it: cmd, then 15 intptr_t. */
static intptr_t fake_engine(intptr_t cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    seen[0] = cmd;
    for (int i = 1; i <= NARGS; i++)
        seen[i] = va_arg(ap, intptr_t);
    va_end(ap);
    engine_calls++;
    seen_sp = stack_pointer();
    return cmd * 1000 + 7;
}

intptr_t gt_watched_syscall(intptr_t cmd, intptr_t a0, intptr_t a1, intptr_t a2, intptr_t a3,
                            intptr_t a4, intptr_t a5, intptr_t a6, intptr_t a7, intptr_t a8,
                            intptr_t a9, intptr_t a10, intptr_t a11, intptr_t a12, intptr_t a13,
                            intptr_t a14)
{
    intptr_t args[1 + NARGS] = {cmd, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14};
    memcpy(seen, args, sizeof(args));
    watched_calls++;
    return -cmd - 1;
}

/* The game's side: a call through the variadic pointer dllEntry gave it, with all 15. */
static intptr_t game_calls(gt_syscall_fn syscall, intptr_t cmd, intptr_t base)
{
    return syscall(cmd, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7,
                   base + 8, base + 9, base + 10, base + 11, base + 12, base + 13, base + 14,
                   base + 15);
}

static void expect_arguments(intptr_t cmd, intptr_t base)
{
    assert(seen[0] == cmd);
    for (int i = 1; i <= NARGS; i++) {
        if (seen[i] != base + i) {
            fprintf(stderr, "argument %d: got %ld, want %ld\n", i, (long)seen[i], (long)(base + i));
            assert(0);
        }
    }
}

int main(void)
{
    gt_engine_syscall = fake_engine;

    /* The same stack alignment as a direct call gives (the frame address mod 16). */
    game_calls(fake_engine, 500, 0);
    uintptr_t direct_alignment = seen_sp % 16;

    /* A syscall nobody watches goes to the engine with every argument and its result. */
    memset(seen, 0, sizeof(seen));
    assert(game_calls(gt_relay_syscall, 500, 0x7000000000) == 500 * 1000 + 7);
    expect_arguments(500, 0x7000000000);
    assert(engine_calls == 2 && watched_calls == 0);
    assert(seen_sp % 16 == direct_alignment);

    /* Each watched one goes to the handler, again with all of them. */
    const intptr_t watched[] = {Q3_G_GET_USERCMD, Q3_G_PRINT, Q3_G_SET_CONFIGSTRING,
                                Q3_G_SEND_CONSOLE_COMMAND, Q3_G_LOCATE_GAME_DATA};
    for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++) {
        memset(seen, 0, sizeof(seen));
        assert(game_calls(gt_relay_syscall, watched[i], -100 * (intptr_t)i) == -watched[i] - 1);
        expect_arguments(watched[i], -100 * (intptr_t)i);
    }
    assert(watched_calls == 5 && engine_calls == 2);

    /* Numbers past the mask's 64 bits, and negative ones, are not watched. */
    const intptr_t others[] = {64 + Q3_G_PRINT, -1, -64, Q3_G_PRINT + 1};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        game_calls(gt_relay_syscall, others[i], 10);
        expect_arguments(others[i], 10);
    }
    assert(watched_calls == 5 && engine_calls == 6);

    puts("test_syscall_relay: ok");
    return 0;
}
