"""`ollama-rpm bump`: update to a new upstream Ollama release and commit it.

Ask GitHub for an Ollama release, download and pin its tarball and the llama.cpp it pins, read the
build inputs from the real tree, update packaging.yaml, sources.lock and ollama.spec, and commit.
Any failure leaves the repository as it was. Then print the bump report (what changed against the
packaged release that the spec cares about) and write it to build/bump-report-VERSION.txt.
"""

import argparse

from ollama_rpm import limits
from ollama_rpm.commands import options
from ollama_rpm.errors import UsageError
from ollama_rpm.publish import bump, bump_apply


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--to", metavar="VERSION", help="this release (0.33.0, v0.33.0-rc2)")
    # --latest names the default explicitly: it sets the same `to` (None: ask GitHub for the latest).
    which.add_argument("--latest", dest="to", action="store_const", const=None,
                       help="the latest stable release (the default)")
    parser.add_argument("--push", action="store_true",
                        help="push the commit (this is what triggers Copr's webhook)")
    parser.add_argument("--remote", help="remote to push to (default: the branch's upstream, else origin)")
    parser.add_argument("--no-commit", action="store_true", help="write the files, do not commit")
    parser.add_argument("--repo", default=bump.DEFAULT_REPO, help="GitHub repository (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="network timeout per request (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    if args.push and args.no_commit:
        raise UsageError("--push needs a commit; drop --no-commit")
    args.timeout = limits.seconds(args.timeout, "--timeout")
    # SIGTERM/SIGHUP end a bump like Ctrl-C: cleaned up, exit 130, never half-done.
    with bump_apply.signals_interrupt():
        return bump.bump(to=args.to, repo_name=args.repo, push=args.push, commit=not args.no_commit,
                         remote=args.remote, timeout=args.timeout)
