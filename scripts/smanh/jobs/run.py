"""What every rule script does around its work: log to the rule's log file, and turn the
project's own errors into a clear message instead of a traceback."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path

from smanh.errors import SmanhError


def run_rule(work: Callable[[], None], log_path: str | Path) -> None:
    """Run ``work`` with stderr going to ``log_path``, then end the job's process (exit
    status 0; see :func:`_exit_now`); a ``SmanhError`` ends it with its message (in the
    log and on the console) and exit status 1. Call it last in a rule script.

    With the environment variable ``SMANH_PROFILE`` set to a folder, ``work`` runs under
    cProfile and its statistics go to ``<folder>/<log name>.prof`` (benchmarks/README.md)."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    # The rule scripts import with the cyclic collector off (a tenth of a second per job).
    # The imported modules are then frozen out of its reach: each full collection during
    # the work would otherwise walk them all again.
    gc.freeze()
    gc.enable()
    console = sys.stderr
    with open(log_path, "w", encoding="utf-8") as log:
        sys.stderr = log
        try:
            if os.environ.get("SMANH_PROFILE"):
                _profiled(work, Path(os.environ["SMANH_PROFILE"]), Path(log_path))
            else:
                work()
        except SmanhError as err:
            message = f"ERROR: {err}\n"
            log.write(message)
            console.write(message)
            sys.stderr = console
            raise SystemExit(1) from None
        finally:
            sys.stderr = console
    _exit_now()


def _exit_now() -> None:
    """End the job without tearing the interpreter down: freeing every table, figure and
    module one object at a time took about 0.6 s per job at registry scale, for nothing a
    finished job needs. Every file is closed by now; the console streams are flushed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _profiled(work: Callable[[], None], folder: Path, log_path: Path) -> None:
    import cProfile

    folder.mkdir(parents=True, exist_ok=True)
    name = "_".join(log_path.with_suffix("").parts[-2:])  # e.g. survival_endpoint_death
    with cProfile.Profile() as profile:
        work()
    profile.dump_stats(folder / f"{name}.prof")
