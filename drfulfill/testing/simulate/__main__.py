"""``python -m drfulfill.testing.simulate``: see ``drfulfill.testing.simulate``."""

import sys

from ._run import main

sys.exit(main())
