"""``python -m drfulfill.cli``."""

from . import main

main()
