import os
import signal
import sys
from types import FrameType


def _interrupt_once(_signum: int, _frame: FrameType | None) -> None:
    """The first Ctrl-C interrupts; later presses (users press again) must not
    interrupt the clean-up and the one-line report that the first one started."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


# The ./ollama-rpm launcher starts Python with SIGINT ignored, so that Ctrl-C during
# the interpreter's own start-up cannot end in a traceback; from here on it is ours.
# A SIGINT its parent chose to ignore (a background job) stays ignored.
if (os.environ.pop("OLLAMA_RPM_SIGINT_DEFERRED", None) == "1"
        or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
    signal.signal(signal.SIGINT, _interrupt_once)

# Ctrl-C while the command modules (and jinja2, yaml: requests, git and rich load only
# when a command needs them) are still importing is as much an interruption as one
# later on: no traceback either way.
try:
    from ollama_rpm.cli import main
except KeyboardInterrupt:
    print("ollama-rpm: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
