"""``python -m smanh.cli``: the ``smanh`` command where no entry point is installed."""

from smanh.cli.main import main

main()
