"""Read build logs: progress phases, the failing phase, the first real error.

Works on the log of a plain `rpmbuild --rebuild` and on mock's result-dir logs
(build.log: rpmbuild's output; root.log: chroot and dependency installation;
state.log: mock's own steps). Everything here is pure text processing, so it is
tested on recorded log samples.
"""

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

# --- mock exit codes (mockbuild/exception.py) ----------------------------------
# code -> (what happened, the log that explains it)
MOCK_EXIT_CODES: dict[int, tuple[str, str | None]] = {
    1: ("mock failed", "root.log"),
    2: ("mock was interrupted", None),
    3: ("mock config error", None),
    5: ("bad mock command line", None),
    6: ("invalid architecture for this host", None),
    10: ("build failed", "build.log"),
    11: ("build timed out", "build.log"),
    20: ("chroot setup failed", "root.log"),
    25: ("LVM error", "root.log"),
    30: ("package manager failed (dependencies could not be installed)", "root.log"),
    31: ("unknown external dependency", "root.log"),
    40: ("bad SRPM", None),
    50: ("mock error", "root.log"),
    60: ("buildroot is locked by another mock process", None),
    65: ("LVM thin pool is locked", None),
    70: ("result directory not accessible", None),
    80: ("unshare(2) failed: mock cannot run here (unprivileged container?)", None),
    90: ("bootstrap chroot could not be prepared", "root.log"),
    110: ("mock state error", "root.log"),
    120: ("a weak dependency was not installed", "root.log"),
}


def decode_mock_exit(code: int) -> tuple[str, str | None]:
    """(description, log name or None) for a mock exit status."""
    if code in MOCK_EXIT_CODES:
        return MOCK_EXIT_CODES[code]
    if code < 0 or code > 128:
        return (f"mock was killed by signal {abs(code) if code < 0 else code - 128}", None)
    return (f"mock failed with unknown exit code {code}", "root.log")


# --- phases -------------------------------------------------------------------
_EXECUTING = re.compile(r"Executing\((%\w+)\)")
_BAD_EXIT = re.compile(r"Bad exit status from \S+ \((%\w+)\)")
_PERCENT = re.compile(r"^\[\s*(\d{1,3})%\]")
_NINJA = re.compile(r"^\[(\d+)/(\d+)\] ")
_CMAKE_CONFIGURE = re.compile(r"^\+ \S*cmake\b.*?\s-B\s*\"?([^\s\"]+)\"?")
_CMAKE_BUILD = re.compile(r"^\+ \S*cmake\b.*?\s--build\s+\"?([^\s\"]+)\"?")
_CMAKE_INSTALL = re.compile(r"^\+ \S*cmake\b.*?\s--install\b")
_GO_BUILD = re.compile(r"^\+ .*\bgo build\b")
_WROTE = re.compile(r"^Wrote: (\S+\.rpm)\s*$")
_STATE = re.compile(r"(?:^|\s)Start(?:\(bootstrap\))?: (.+?)\s*$")
_FILES = re.compile(r"^Processing files: ")
_FILES_ERRORS = re.compile(r"^\s*(File not found|Installed \(but unpackaged\) file\(s\) found|"
                          r"File must begin with|Directory not found|Bad file:)")

PHASE_LABELS = {
    "bootstrap": "bootstrap chroot",
    "chroot": "chroot setup",
    "deps": "install build dependencies",
    "%prep": "%prep (unpack, patch)",
    "%generate_buildrequires": "dynamic build dependencies",
    "%conf": "%conf",
    "%build": "%build",
    "go": "Go build",
    "%install": "%install",
    "%check": "%check",
    "files": "package files",
}


def backend_label(builddir: str) -> str:
    """`build-cuda` -> `cuda`; any other CMake build directory keeps its name."""
    name = builddir.rstrip("/").rsplit("/", 1)[-1]
    return name[len("build-"):] if name.startswith("build-") else name


@dataclass
class Step:
    key: str              # "deps", "%build", "cmake:cuda", "go", ...
    label: str
    percent: int | None = None   # CMake progress, when known
    done: bool = False


@dataclass
class Tracker:
    """Folds log lines into the list of build steps seen so far.

    `on_change(tracker)` is called whenever a step starts or its percentage moves.
    """

    on_change: Callable[["Tracker"], object] | None = None
    steps: list[Step] = field(default_factory=list)
    rpm_phase: str | None = None         # the last Executing(%...) seen
    rpms: list[str] = field(default_factory=list)

    @property
    def current(self) -> Step | None:
        return self.steps[-1] if self.steps else None

    def _start(self, key: str, label: str) -> None:
        if self.current and self.current.key == key:
            return
        if self.current:
            self.current.done = True
        self.steps.append(Step(key, label))
        self._changed()

    def _changed(self) -> None:
        if self.on_change:
            self.on_change(self)

    def finish(self) -> None:
        if self.current and not self.current.done:
            self.current.done = True
            self._changed()

    def feed_state(self, line: str) -> None:
        """A line of mock's state.log."""
        match = _STATE.search(line)
        if not match:
            return
        state = match.group(1)
        if "(bootstrap)" in line:
            self._start("bootstrap", PHASE_LABELS["bootstrap"])
        elif state.startswith("build setup for"):
            self._start("deps", PHASE_LABELS["deps"])
        elif state.startswith(("chroot init", "dnf install", "dnf5 install", "installing dependencies")) \
                and not (self.current and self.current.key == "deps"):
            self._start("chroot", PHASE_LABELS["chroot"])

    def feed_root(self, line: str) -> None:
        """A line of mock's root.log (used only to notice dependency installation)."""
        if "builddep" in line and ("Executing command" in line or "Running:" in line):
            self._start("deps", PHASE_LABELS["deps"])

    def feed(self, line: str) -> None:
        """A line of rpmbuild's output (a plain build log or mock's build.log)."""
        line = line.rstrip("\n")
        match = _EXECUTING.search(line)
        if match:
            phase = match.group(1)
            self.rpm_phase = phase
            self._start(phase, PHASE_LABELS.get(phase, phase))
            return
        match = _WROTE.match(line)
        if match:
            self.rpms.append(match.group(1))
            return
        if _FILES.match(line):
            self.rpm_phase = "files"
            self._start("files", PHASE_LABELS["files"])
            return
        if self.rpm_phase == "%build":
            match = _CMAKE_BUILD.match(line)
            if match:
                name = backend_label(match.group(1))
                self._start(f"cmake:{name}", f"CMake build: {name}")
                return
            match = _CMAKE_CONFIGURE.match(line)
            if match and not _CMAKE_INSTALL.match(line):
                name = backend_label(match.group(1))
                self._start(f"cmake:{name}", f"CMake build: {name}")
                return
            if _GO_BUILD.match(line):
                self._start("go", PHASE_LABELS["go"])
                return
            current = self.current
            if current is None or not current.key.startswith("cmake:"):
                return
            match = _PERCENT.match(line)
            ninja = None if match else _NINJA.match(line)
            if match:
                percent = min(int(match.group(1)), 100)
            elif ninja:
                done, total = int(ninja.group(1)), int(ninja.group(2))
                percent = min(100, done * 100 // total) if total else 0
            else:
                return
            if percent != current.percent:
                current.percent = percent
                self._changed()


# --- the failing phase of an rpmbuild log --------------------------------------
def failing_phase(lines: Iterable[str]) -> str | None:
    """The rpmbuild phase that failed: "%build", ..., "files", or None if none can be told."""
    last_executing = None
    in_errors = False
    for line in lines:
        match = _BAD_EXIT.search(line)
        if match:
            return match.group(1)
        match = _EXECUTING.search(line)
        if match:
            last_executing = match.group(1)
        if line.startswith("RPM build errors:"):
            in_errors = True
            continue
        if in_errors and _FILES_ERRORS.match(line):
            return "files"
        if _FILES.match(line):
            last_executing = "files"
        if line.startswith(("error: Failed build dependencies", "Failed build dependencies")):
            return "build dependencies"
    return last_executing


# --- the first real error -----------------------------------------------------
# Patterns, most specific first; the first line in the log matching any of the
# PRIMARY ones is the error shown. SECONDARY ones (make's summary, rpmbuild's
# "Bad exit status") only describe the failure and are used when nothing better
# is found.
PRIMARY_ERRORS = (
    ("missing build dependency", re.compile(
        r"No matching package to install|No match for argument|Failed build dependencies|"
        r"nothing provides |Unable to find a match")),
    ("nvcc", re.compile(r"\bnvcc (fatal|error)\b|^[^\s+]\S*\(\d+\): (catastrophic )?error|"
                        r"#error -- unsupported (GNU|clang) version")),
    ("compiler", re.compile(r"^[^\s+][^:]*:\d+(:\d+)?: (fatal )?error: |^(cc1|cc1plus|gcc|g\+\+|clang\S*): (fatal )?error: ")),
    ("CMake", re.compile(r"^CMake Error\b")),
    ("Go", re.compile(r"cannot find package|cannot find module providing package|"
                      r"^go: (inconsistent vendoring|updates to go\.mod needed|[\w./@-]+: )|"
                      r"^[^\s+][^:]*\.go:\d+:\d+: ")),
    ("linker", re.compile(r"undefined reference to|collect2: error|/ld: cannot find|^ld(\.\w+)?: error")),
    ("rpm files", re.compile(r"^\s+(File not found|Installed \(but unpackaged\) file\(s\) found)|"
                             r"^error: File not found")),
    ("dnf", re.compile(r"^Error: |\bError downloading packages|Curl error|Cannot download|"
                       r"Failed to download metadata|Status code: 404 for")),
    ("mock", re.compile(r"^ERROR: (?!Command failed|Exception\()|Build root is locked|Could not find included config|"
                        r"Error: Could not find |error: .*\.src\.rpm: not an rpm package|"
                        r"error reading header from package")),
)
SECONDARY_ERRORS = (
    ("make", re.compile(r"\*\*\* \[.*\] Error \d+|^make(\[\d+\])?: \*\*\* ")),
    ("rpmbuild", re.compile(r"^error: |Bad exit status from")),
    ("mock", re.compile(r"^ERROR: Command failed")),
)

_ROOT_PREFIX = re.compile(r"^(DEBUG|INFO|WARNING|ERROR) \S+\.py:\d+:\s{1,2}")


def strip_mock_prefix(line: str) -> str:
    """root.log lines carry `DEBUG util.py:459:  `: drop it so the message reads plainly."""
    return _ROOT_PREFIX.sub("", line)


@dataclass
class ErrorExcerpt:
    log: str            # the log's name or path, as shown to the user
    line_no: int        # 1-based line of the error
    kind: str           # which pattern matched ("compiler", "CMake", ...)
    line: str           # the error line itself
    context: list[tuple[int, str]]  # [(line_no, text)] around it
    message: str = ""   # one line for summaries: the error line, completed when it ends in ":"

    def render(self) -> str:
        width = len(str(self.context[-1][0])) if self.context else 1
        out = [f"first error ({self.kind}) at {self.log}:{self.line_no}:"]
        for number, text in self.context:
            marker = ">" if number == self.line_no else " "
            out.append(f"  {marker} {number:>{width}} | {text}")
        return "\n".join(out)


def _is_trace(line: str) -> bool:
    # Shell trace lines (`+ cmake ...`) quote commands, not their failures.
    return line.startswith("+ ") or line.startswith("++ ")


def first_error(raw_lines: Iterable[str], log: str = "build.log", before: int = 3, after: int = 4) -> ErrorExcerpt | None:
    """The first real error in `raw_lines` with a few lines around it, or None."""
    lines = [strip_mock_prefix(line.rstrip("\n")) for line in raw_lines]
    found: tuple[int, str] | None = None
    for patterns in (PRIMARY_ERRORS, SECONDARY_ERRORS):
        for index, line in enumerate(lines):
            if _is_trace(line):
                continue
            for kind, pattern in patterns:
                if pattern.search(line):
                    found = (index, kind)
                    break
            if found:
                break
        if found:
            break
    if not found:
        return None
    index, kind = found
    start, end = max(0, index - before), min(len(lines), index + after + 1)
    context = [(number + 1, lines[number]) for number in range(start, end)]
    message = lines[index].strip()
    if message.endswith(":") and kind in ("CMake", "Go", "nvcc", "compiler"):
        # `CMake Error at X (message):` says where; the next line says what.
        following = next((line.strip() for line in lines[index + 1:index + 3] if line.strip()), "")
        if following:
            message = f"{message} {following}"
    return ErrorExcerpt(log, index + 1, kind, lines[index].strip(), context, message)


def tail(lines: Sequence[str], count: int = 10) -> list[str]:
    return [strip_mock_prefix(line.rstrip("\n")) for line in lines[-count:]]
