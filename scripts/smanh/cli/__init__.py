"""The ``smanh`` command: check an export, write a starter config for it, run the workflow.

Only :mod:`click` and the standard library are imported to parse the command line (``smanh
--help`` stays instant); each command imports what its work needs when it runs.
"""

from smanh.cli.main import main

__all__ = ["main"]
