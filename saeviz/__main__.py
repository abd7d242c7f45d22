import sys

from saeviz.cli.main import main

sys.exit(main())
