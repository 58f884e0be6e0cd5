"""Settings for the whole suite, made before anything in it imports grpc."""
from __future__ import annotations

import os

# gRPC runs its fork handlers in every fork() of a process that loaded it. Ray starts its node
# processes with a preexec_fn, so with fork(), not vfork(): in CI a forked raylet died of SIGABRT
# before its exec (still named python), 1 or 2 of the suite's 16 cluster starts in some runs.
# Nothing in this process needs gRPC in a forked child. The daemon turns the handlers off for the
# same reason (gametap/cli.py), and so do the tests.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
