import atexit
import contextlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

from ollama_rpm.errors import EXIT_INTERRUPTED

_STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt_once(_signum: int, _frame: FrameType | None) -> None:
    """The first Ctrl-C (or SIGTERM, SIGHUP) interrupts; later ones (users press again,
    service managers repeat) must not interrupt the clean-up (temporary files, child
    processes) and the one-line report that the first one started."""
    for signum in _STOPS:
        signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt


# SIGTERM and SIGHUP end a command as Ctrl-C does: the same clean-up, exit 130 (set
# first: nothing may run between taking SIGINT over and the `try` below). A
# SIGHUP ignored by the parent (nohup) stays ignored.
for _signum in _STOPS[1:]:
    if signal.getsignal(_signum) is not signal.SIG_IGN:
        signal.signal(_signum, _interrupt_once)

# The ./ollama-rpm launcher starts Python with SIGINT ignored, so that Ctrl-C during
# the interpreter's own start-up cannot end in a traceback; from here on it is ours.
# A SIGINT its parent chose to ignore (a background job) stays ignored.
if (os.environ.pop("OLLAMA_RPM_SIGINT_DEFERRED", None) == "1"
        or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
    signal.signal(signal.SIGINT, _interrupt_once)

# Ctrl-C while the command modules (and jinja2, yaml: requests, git and rich load only
# when a command needs them) are still importing is as much an interruption as one
# later on: no traceback either way.
def _exit(code: int) -> NoReturn:
    """Exit with `code`. After an interruption, CPython (3.11) may end the process
    with SIGINT instead, even though we caught the KeyboardInterrupt: one raised
    inside exec() of a string (dataclasses build their methods that way while a
    module imports) sets its "unhandled KeyboardInterrupt" flag for good. So an
    interrupted run finishes the clean-up itself and leaves without that check."""
    if code != EXIT_INTERRUPTED:
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


try:
    from ollama_rpm.cli import main
except KeyboardInterrupt:
    print("ollama-rpm: interrupted", file=sys.stderr)
    _exit(EXIT_INTERRUPTED)

_exit(main())
