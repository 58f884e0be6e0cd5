import sys

from gametap.worker.process import main

sys.exit(main(sys.argv))
