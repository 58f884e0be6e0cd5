/*
 * The relay between the game module and the engine. dllEntry hands the game our
 * gt_relay_syscall instead of the engine's syscall, and the game calls it about 960 times a
 * frame. The library watches five of those calls (gt_watched_syscalls, handled in shim.c) and
 * passes the rest on untouched, so this relay is the game's own hot path.
 *
 * Why assembly: a C relay must walk a va_list and call the engine with 16 arguments. That cost
 * about 190 instructions a call, 17% of a bare game's instructions (callgrind). This one costs
 * about 30: it copies the ten arguments the caller put on the stack and calls the engine, or
 * gt_watched_syscall. cmd and the first five arguments travel in registers, and the relay
 * leaves those alone. The engine's VM_DllSyscall reads 15 arguments however many the game
 * passed, and so does the copy. gt_watched_syscall has 16 fixed intptr_t parameters: the x86-64
 * SysV ABI puts a variadic call's integer arguments in exactly those places.
 *
 * Why the 1,032-byte frame: it keeps the engine's frames as far below the game's as the C relay
 * did. The game module reads uninitialised stack (valgrind: BotAimAtEnemy's locals reach the
 * bots' aim), so what lies there decides how its bots play. With the engine's frames directly
 * below the game's (a plain jump into the engine), two runs of one seed part after about 140
 * steps. docs/abi.md, "Syscalls", has the measurements.
 */
#define _GNU_SOURCE
#include "gt_internal.h"

#if !defined(__x86_64__)
#error "gt_relay_syscall is x86-64 SysV code (docs/abi.md, \"Syscalls\")"
#endif

gt_syscall_fn gt_engine_syscall;

#define WATCHED(cmd) (1ull << (cmd))
_Static_assert(Q3_G_GET_USERCMD < 64 && Q3_G_PRINT < 64 && Q3_G_SET_CONFIGSTRING < 64 &&
                   Q3_G_SEND_CONSOLE_COMMAND < 64 && Q3_G_LOCATE_GAME_DATA < 64,
               "the watched syscalls must fit gt_watched_syscalls' 64 bits");
const uint64_t gt_watched_syscalls = WATCHED(Q3_G_GET_USERCMD) | WATCHED(Q3_G_PRINT) |
                                     WATCHED(Q3_G_SET_CONFIGSTRING) |
                                     WATCHED(Q3_G_SEND_CONSOLE_COMMAND) |
                                     WATCHED(Q3_G_LOCATE_GAME_DATA);

/* The frame is 1,032 bytes: 16n + 8, so the calls below see an aligned stack. The caller's stack
 * arguments start at frame + 8, past its return address. Only r11 (a scratch register no
 * argument travels in) and rax (the return value) change. In C:
 *   if ((unsigned)cmd < 64 && gt_watched_syscalls >> cmd & 1) return gt_watched_syscall(...);
 *   return gt_engine_syscall(...); */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl gt_relay_syscall\n"
        ".hidden gt_relay_syscall\n"
        ".type gt_relay_syscall, @function\n"
        "gt_relay_syscall:\n"
        "    .set gt_relay_frame, 0x408\n"
        "    subq $gt_relay_frame, %rsp\n"
        "    .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9\n"
        "    movq gt_relay_frame + 8 + 8 * \\i(%rsp), %r11\n"
        "    movq %r11, 8 * \\i(%rsp)\n"
        "    .endr\n"
        "    cmpl $63, %edi\n"
        "    ja 1f\n"
        "    movq gt_watched_syscalls(%rip), %r11\n"
        "    btq %rdi, %r11\n"
        "    jnc 1f\n"
        "    call gt_watched_syscall\n"
        "    addq $gt_relay_frame, %rsp\n"
        "    ret\n"
        "1:  xorl %eax, %eax\n" /* a variadic call says how many vector registers it uses: none */
        "    call *gt_engine_syscall(%rip)\n"
        "    addq $gt_relay_frame, %rsp\n"
        "    ret\n"
        ".size gt_relay_syscall, .-gt_relay_syscall\n");
