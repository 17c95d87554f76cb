import os
import signal
import sys

# The ./ollama-rpm launcher starts Python with SIGINT ignored, so that Ctrl-C during
# the interpreter's own start-up cannot end in a traceback; from here on it is ours.
if os.environ.pop("OLLAMA_RPM_SIGINT_DEFERRED", None) == "1":
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Ctrl-C while the command modules (requests, git, jinja2...) are still importing is
# as much an interruption as one later on: no traceback either way.
try:
    from ollama_rpm.cli import main
except KeyboardInterrupt:
    print("ollama-rpm: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
