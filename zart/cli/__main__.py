"""``python -m zart.cli``: the same as the ``zart`` command (for an environment without the
console script on its PATH)."""

from . import main

main()
