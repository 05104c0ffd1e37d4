"""``python -m drfulfill.testing``: run the emulator until Ctrl-C (see ``_launcher``)."""

from ._launcher import main

if __name__ == "__main__":
    main()
