import sys

from holoops.cli import main

sys.exit(main())
