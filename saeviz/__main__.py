import sys

from saeviz.cli import main

sys.exit(main())
