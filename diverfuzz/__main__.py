import sys

from diverfuzz.entry.cli import main

sys.exit(main())
