import sys

from gametap.cli import main

sys.exit(main())
