import sys

from pipesdfa.cli.main import main

sys.exit(main())
