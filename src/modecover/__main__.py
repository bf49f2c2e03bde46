"""``python -m modecover ...``: the same command line as the ``modecover`` script."""

from modecover.cli import main

main(prog_name="modecover")
