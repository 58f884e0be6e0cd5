"""A child process that ends with its parent: Linux's PR_SET_PDEATHSIG.

The daemon's workers set it on themselves; gametap.ray's node actor sets it on the daemon it
starts (in the forked child, before exec). libc's prctl is looked up here, at import, so that
calling it in a forked child of a threaded process loads nothing (which could deadlock)."""
from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent() -> None:
    """The kernel sends this process SIGTERM when the thread that started it ends."""
    if _prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")
