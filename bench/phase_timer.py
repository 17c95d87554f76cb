#!/usr/bin/env python3
"""Run a command and append its wall time, CPU time and peak memory to a log.

    phase_timer.py LABEL COMMAND [ARG]...

For bench/bench_phases.py only: its macro file puts this in front of each
rpmbuild scriptlet (%prep, %build...), of CMake, of find-debuginfo, and (on
PATH) of go. One JSON line per run goes to $OLLAMA_RPM_PHASE_LOG: start and
end (epoch seconds), CPU (user + system of the command and every descendant
it waited for) and the largest resident set among them (ru_maxrss). The
command's exit status is passed on. After `cmake --build DIR` it also keeps
DIR/.ninja_log as ninja-DIR.log beside the log.
"""

import json
import os
import shutil
import subprocess
import sys
import time


def describe(label: str, args: list[str]) -> str:
    """A readable name for a CMake or Go run: what it does and to which build dir."""
    if label == "cmake":
        for flag, what in (("--build", "build"), ("--install", "install"), ("-B", "configure")):
            if flag in args and args.index(flag) + 1 < len(args):
                return f"cmake {what} {os.path.basename(args[args.index(flag) + 1].rstrip('/'))}"
        return "cmake"
    if label == "go":
        return f"go {args[0]}" if args else "go"
    return label


def main() -> int:
    label, cmd = sys.argv[1], sys.argv[2:]
    name = describe(label, cmd[1:])
    start = time.time()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    record = {"phase": name, "kind": label, "start": start, "end": time.time(),
              "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss, "rc": code}
    log = os.environ.get("OLLAMA_RPM_PHASE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        keep_ninja_log(cmd[1:], os.path.dirname(log))
    return code if code >= 0 else 128 - code


def keep_ninja_log(args: list[str], logdir: str) -> None:
    """After `cmake --build DIR`, copy DIR/.ninja_log (every step's start and end)
    next to the phase log: rpmbuild removes the build tree after a good build."""
    if "--build" not in args or args.index("--build") + 1 >= len(args):
        return
    builddir = args[args.index("--build") + 1].rstrip("/")
    source = os.path.join(builddir, ".ninja_log")
    if os.path.isfile(source):
        shutil.copyfile(source, os.path.join(logdir, f"ninja-{os.path.basename(builddir)}.log"))


if __name__ == "__main__":
    sys.exit(main())
