"""Test-only entry point: ``experiments/train.py``, killed with SIGKILL after a number of optimizer steps.

    python tests/kill_at_step.py STEPS [train.py's arguments ...]

It installs an ``on_step`` callback (:func:`robustopt.train.fit`) that sends SIGKILL to this process once
``STEPS`` optimizer steps (counted over the whole run) are done, then runs ``experiments/train.py`` as
``__main__``, so that a real process dies mid-epoch, as on a preempted machine.  ``KILL_SIGNAL=SIGINT`` in the
environment sends that signal instead (Ctrl-C).
"""

from __future__ import annotations

import functools
import os
import runpy
import signal
import sys
from pathlib import Path

import robustopt.train.pipeline as pipeline

TRAIN = Path(__file__).resolve().parents[1] / "experiments" / "train.py"


def main() -> None:
    kill_at = int(sys.argv.pop(1))

    def on_step(step: int) -> None:
        if step == kill_at:
            os.kill(os.getpid(), getattr(signal, os.environ.get("KILL_SIGNAL", "SIGKILL")))

    if os.environ.get("KILL_SIGNAL") == "SIGINT":
        # Ctrl-C reaches a command started from a terminal, whose SIGINT has Python's default handler.  A test
        # suite started in the background by a non-interactive shell (`cmd &`) runs with SIGINT ignored, which every
        # child inherits (an ignored signal stays ignored across exec, and Python then installs no handler): give
        # this process the terminal's disposition, so that the test does not depend on how pytest was started.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    pipeline.fit = functools.partial(pipeline.fit, on_step=on_step)
    sys.argv[0] = str(TRAIN)
    runpy.run_path(str(TRAIN), run_name="__main__")


if __name__ == "__main__":
    main()
