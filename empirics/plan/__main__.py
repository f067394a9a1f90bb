"""``python -m empirics.plan``."""

import sys

from empirics.plan.cli import main

sys.exit(main())
