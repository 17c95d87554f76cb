"""Parse a spec with the real rpm parser (python3-rpm), one subprocess per parse.

rpm keeps its macro context process-global, so each parse (target arch,
--with/--without, extra macro files) runs in a fresh interpreter and returns
plain JSON. rpm reports a spec it cannot parse on stderr (`error: ...` lines,
possibly after warnings) and python3-rpm then only raises "can't parse
specfile"; like packit's `specfile` (which captures rpm's stderr around the
parse), the parent reads the child's stderr and names rpm's first error.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ollama_rpm.errors import ConfigError, ToolError
from ollama_rpm.pathtypes import StrPath


@dataclass
class ParsedSpec:
    name: str
    version: str
    release: str
    license: str
    packages: list[str]                 # binary package names, main first
    requires: dict[str, list[str]] = field(default_factory=dict)     # package -> [Requires]
    recommends: dict[str, list[str]] = field(default_factory=dict)
    supplements: dict[str, list[str]] = field(default_factory=dict)
    buildrequires: list[str] = field(default_factory=list)
    sources: list[tuple[int, str]] = field(default_factory=list)      # [(number, value)]
    patches: list[tuple[int, str]] = field(default_factory=list)
    prep_script: str = ""
    build_script: str = ""
    install_script: str = ""


def parse(spec: StrPath, target: str | None = None, with_: Iterable[str] = (), without: Iterable[str] = (),
          macro_files: Iterable[StrPath] = (), defines: Iterable[tuple[str, str]] = ()) -> ParsedSpec:
    request = {"spec": str(spec), "target": target, "with": list(with_), "without": list(without),
               "macro_files": [str(m) for m in macro_files], "defines": [list(d) for d in defines]}
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [package_parent, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "ollama_rpm.specgen.parse"], input=json.dumps(request),
                          capture_output=True, text=True, env=env)
    if proc.returncode == 3:
        raise ToolError(proc.stderr.strip() or "python3-rpm is not importable")
    if proc.returncode != 0:
        raise ConfigError(spec, None, f"rpm cannot parse it: {first_error(proc.stderr)}")
    data = json.loads(proc.stdout)
    for key in ("sources", "patches"):
        data[key] = [(number, value) for number, value in data[key]]   # JSON has no tuples
    return ParsedSpec(**data)


def first_error(stderr: str) -> str:
    """rpm's first `error:` line of `stderr` (what failed; later lines are consequences),
    else its last line, else "unknown error"."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    if errors:
        return errors[0].removeprefix("error: ")
    return lines[-1] if lines else "unknown error"


def _child(request: dict[str, Any]) -> int:
    try:
        import rpm
    except ImportError:
        print("python3-rpm is not importable by " + sys.executable, file=sys.stderr)
        return 3
    if request["target"]:
        rpm.reloadConfig(f"{request['target']}-linux")
    else:
        rpm.reloadConfig()          # the host's platform (reloadConfig(None) is a TypeError)
    for path in request["macro_files"]:
        rpm.expandMacro(f"%{{load:{path}}}")
    for name in request["with"]:
        rpm.addMacro(f"_with_{name}", f"--with-{name}")
    for name in request["without"]:
        rpm.addMacro(f"_without_{name}", f"--without-{name}")
    for name, value in request["defines"]:
        rpm.addMacro(name, value)
    try:
        spec = rpm.spec(request["spec"])
    except ValueError:
        return 1                    # rpm has said why on stderr; no traceback after it
    json.dump(_read(rpm, spec), sys.stdout)
    return 0


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _read(rpm: Any, spec: Any) -> dict[str, Any]:
    """What ParsedSpec holds, as JSON data, from a parsed rpm.spec."""
    def names(header: Any, tag: int) -> list[str]:
        return [_text(v) for v in header[tag]]

    main = spec.sourceHeader
    result: dict[str, Any] = {
        "name": _text(main[rpm.RPMTAG_NAME]),
        "version": _text(main[rpm.RPMTAG_VERSION]),
        "release": _text(main[rpm.RPMTAG_RELEASE]),
        "license": _text(main[rpm.RPMTAG_LICENSE]),
        "packages": [], "requires": {}, "recommends": {}, "supplements": {},
        "buildrequires": names(main, rpm.RPMTAG_REQUIRENAME),
        "sources": [], "patches": [],
        "prep_script": _text(spec.prep or ""),
        "build_script": _text(spec.build or ""),
        "install_script": _text(spec.install or ""),
    }
    for source, number, flags in spec.sources:
        kind = "patches" if flags & rpm.RPMBUILD_ISPATCH else "sources"
        result[kind].append([number, _text(source)])
    for key in ("sources", "patches"):
        result[key].sort()
    for package in spec.packages:
        header = package.header
        pkg = _text(header[rpm.RPMTAG_NAME])
        result["packages"].append(pkg)
        result["requires"][pkg] = names(header, rpm.RPMTAG_REQUIRENAME)
        result["recommends"][pkg] = names(header, rpm.RPMTAG_RECOMMENDNAME)
        result["supplements"][pkg] = names(header, rpm.RPMTAG_SUPPLEMENTNAME)
    return result


if __name__ == "__main__":
    raise SystemExit(_child(json.load(sys.stdin)))
