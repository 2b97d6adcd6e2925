import sys

from fuzzer.entry.cli import main

sys.exit(main())
