"""`ollama-rpm smoke`: install the built RPMs and check that the installed Ollama answers a prompt.

Install the binary RPMs (mock chroot, or a scratch root seen through a private mount namespace),
start `ollama serve` as the unit does, import a tiny generated GGUF model with `ollama create`, ask
/api/generate for tokens, and check that ggml loaded the best CPU variant this CPU can run and that
every installed GPU backend library loads. `--model-shape bench` asks the benchmark's model instead
(~200M parameters, Q4_0), so the chosen variant also runs its large-matrix kernels (repacked Q4_0,
AMX) and one that crashes there fails. Exits 0 when every check passes, 1 otherwise.
"""

import argparse
import shutil

from ollama_rpm.check import smoke, tinymodel
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_FAILED, EXIT_OK, UsageError
from ollama_rpm.specgen.backends import DEFAULT_CHROOT


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    parser.add_argument("paths", nargs="+", metavar="RESULTDIR_OR_RPMS",
                        help="result directories (searched for binary RPMs; debug packages skipped) or RPM files")
    parser.add_argument("--engine", choices=("mock", "rootfs"),
                        help="mock (mock --install / --chroot) or rootfs (rpm --root + unshare); "
                             "default: mock when it is on PATH, else rootfs")
    parser.add_argument("--chroot", metavar="NAME_OR_CFG",
                        help=f"mock chroot or config file (default {DEFAULT_CHROOT}); mock engine only")
    parser.add_argument("--timeout", type=float, default=60, metavar="SECONDS",
                        help="how long the server may take to answer /api/version (default 60)")
    parser.add_argument("--generate-timeout", type=float, default=180, metavar="SECONDS",
                        help="how long model import and generation may each take (default 180)")
    parser.add_argument("--model-shape", choices=sorted(tinymodel.SHAPES), default="tiny",
                        help="the generated model: tiny (default, instant) or bench (bench/runtime.py's model "
                             "in Q4_0, ~110 MiB: exercises the large-matrix kernels of the chosen CPU variant)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (for CI)")


def run(args: argparse.Namespace) -> int:
    engine_name = args.engine or ("mock" if shutil.which("mock") else "rootfs")
    if args.chroot and engine_name != "mock":
        raise UsageError("--chroot: applies to --engine mock only")
    for option, value in (("--timeout", args.timeout), ("--generate-timeout", args.generate_timeout)):
        if not 0 < value <= 3600:
            raise UsageError(f"{option} {value:g}: expected seconds between 0 and 3600")
    timeouts = {"startup_timeout": args.timeout, "create_timeout": args.generate_timeout,
                "generate_timeout": args.generate_timeout, "stop_timeout": 15}
    engine: smoke.Engine
    if engine_name == "mock":
        engine = smoke.MockEngine(args.chroot or DEFAULT_CHROOT, timeouts)
    else:
        engine = smoke.RootfsEngine(timeouts)
    report = smoke.run_smoke(args.paths, engine, shape=tinymodel.SHAPES[args.model_shape])
    print(report.to_json() if args.json else report.table())
    if not args.json and not report.ok and report.facts.get("server_log_tail"):
        print("server log (last lines):")
        print("\n".join(f"  {line}" for line in report.facts["server_log_tail"][-10:]))
    return EXIT_OK if report.ok else EXIT_FAILED
