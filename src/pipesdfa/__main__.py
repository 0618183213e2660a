import sys

from pipesdfa.cli import main

sys.exit(main())
