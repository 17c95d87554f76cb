import sys

# Ctrl-C while the command modules (requests, git, jinja2...) are still importing is
# as much an interruption as one later on: no traceback either way.
try:
    from ollama_rpm.cli import main
except KeyboardInterrupt:
    print("ollama-rpm: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
