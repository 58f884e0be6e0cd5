import os

# The daemon and its workers start processes that exec at once (workers, games): gRPC's fork
# handlers have nothing to do, and would log that they skip themselves at every start.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import sys

from gametap.worker.process import main

sys.exit(main(sys.argv))
