"""The bump report: what changed between the packaged release and the new one that the spec cares about.

Read from the two releases' real tarballs (and the two llama.cpp tarballs when
the tag moved), never from release notes:
- the install manifest: upstream's `install()` rules (Ollama's CMake files, and
  llama.cpp's when its tag moved), since %files lists what they install one by one;
- CMake settings: `option()` and the `set()` of CMAKE_*/OLLAMA_*/GGML_*/LLAMA_*/MLX_*
  variables or cache entries, and the configure presets (added, removed, changed);
- upstream's version pins (LLAMA_CPP_VERSION, MLX_VERSION, ... at the top of the tree);
- Go: the `go` line, modules added/removed/changed in go.mod and, when Go and
  askalono are at hand, the licenses of those modules (from the module cache);
- the llama/compat patches added, removed or changed.
"""

import hashlib
import json
import os
import re
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ollama_rpm import atomic
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.publish.upstream_release import read_ollama

# CMake variables whose setting a spec depends on.
_SETTING = re.compile(r"^(option|set)\((CMAKE_|OLLAMA_|GGML_|LLAMA_|MLX_|BUILD_SHARED)", re.I)
_LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|UNLICENSE)([-._].*)?$", re.I)
_REQUIRE = re.compile(r"^\s*(?:require\s+)?([\w.\-/~]+\.[\w.\-/~]+)\s+(v[\w.\-+]+)(\s*//\s*indirect)?\s*$")

# Module path and version -> its license identifiers (None: could not tell, with why).
LicenseLookup = Callable[[Iterable[tuple[str, str]]], Mapping[str, "list[str] | str"]]


@dataclass
class Tree:
    """What one Ollama release (and the llama.cpp it pins) says that the spec cares about."""

    version: str
    llama_cpp_tag: str
    go_version: str
    compat_patches: dict[str, str]                  # path -> sha256
    presets: dict[str, dict[str, object]]
    settings: list[str]                             # "file: option(...)/set(...)", as often as written
    install_rules: list[str]                        # "file: install(...)" (Ollama and llama.cpp)
    pins: dict[str, str]                            # top-level *_VERSION file -> its content
    go_requires: dict[str, str] = field(default_factory=dict)   # module -> version


def cmake_commands(text: str) -> list[str]:
    """Every top-level command call of a CMake file, comments dropped, blanks collapsed."""
    code = "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())
    commands: list[str] = []
    end = 0
    for match in re.finditer(r"\b([A-Za-z_]\w*)\s*\(", code):
        if match.start() < end:          # inside the previous command's arguments
            continue
        depth, start = 1, match.end()
        i = start
        while i < len(code) and depth:
            depth += {"(": 1, ")": -1}.get(code[i], 0)
            i += 1
        end = i
        commands.append(f"{match.group(1).lower()}(" + " ".join(code[start:i - 1].split()) + ")")
    return commands


def _files(tar_path: StrPath) -> dict[str, bytes]:
    """Regular files of the tarball that the report reads, by path below the top directory."""
    wanted = re.compile(r"(^|/)(CMakeLists\.txt|[^/]+\.cmake|CMakePresets\.json|go\.mod)$|^[A-Z_]+_VERSION$"
                        r"|^llama/compat/.*\.patch$")
    out: dict[str, bytes] = {}
    with tarfile.open(tar_path, "r:*") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            rel = "/".join(parts[1:])
            if member.isfile() and len(parts) > 1 and wanted.search(rel):
                handle = tar.extractfile(member)
                if handle is not None:
                    out[rel] = handle.read()
    return out


def _cmake_facts(files: Mapping[str, bytes], prefix: str = "") -> tuple[list[str], list[str]]:
    settings: list[str] = []
    rules: list[str] = []
    for path, data in sorted(files.items()):
        if not (path.endswith("CMakeLists.txt") or path.endswith(".cmake")):
            continue
        for command in cmake_commands(data.decode("utf-8", errors="replace")):
            if command.startswith("install("):
                rules.append(f"{prefix}{path}: {command}")
            elif _SETTING.match(command) and (command.startswith("option(") or "CACHE" in command
                                              or command.split("(", 1)[1].upper().startswith("CMAKE_")):
                settings.append(f"{prefix}{path}: {command}")
    return settings, rules


def go_requires(go_mod: str) -> dict[str, str]:
    """module -> version of every require of go.mod (direct and indirect)."""
    requires: dict[str, str] = {}
    inside = False
    for line in go_mod.splitlines():
        stripped = line.strip()
        if stripped.startswith("require ("):
            inside = True
            continue
        if inside and stripped == ")":
            inside = False
            continue
        if inside or stripped.startswith("require "):
            match = _REQUIRE.match(stripped)
            if match:
                requires[match.group(1)] = match.group(2)
    return requires


def read_tree(ollama_tar: StrPath, version: str, llama_tar: StrPath | None = None) -> Tree:
    upstream = read_ollama(ollama_tar, version)
    files = _files(ollama_tar)
    settings, rules = _cmake_facts(files)
    if llama_tar is not None:
        rules += _cmake_facts(_files(llama_tar), prefix=f"llama.cpp {upstream.llama_cpp_tag}: ")[1]
    return Tree(
        version=version, llama_cpp_tag=upstream.llama_cpp_tag, go_version=upstream.go_version,
        compat_patches={p: hashlib.sha256(files[p]).hexdigest() for p in upstream.compat_patches},
        presets=upstream.presets, settings=settings, install_rules=rules,
        pins={p: files[p].decode(errors="replace").strip() for p in files if re.fullmatch(r"[A-Z_]+_VERSION", p)},
        go_requires=go_requires(files.get("go.mod", b"").decode(errors="replace")))


# ---- the comparison -------------------------------------------------------------------

@dataclass
class Section:
    title: str
    lines: list[str]

    @property
    def changed(self) -> bool:
        return any(line.startswith(("+ ", "- ", "~ ", "! ")) for line in self.lines)


@dataclass
class BumpReport:
    old: str
    new: str
    rpm_version: str
    sections: list[Section]

    def text(self) -> str:
        out = [f"Bump report: ollama {self.old} -> {self.new} (RPM Version: {self.rpm_version})",
               "Read it before building: '+' added, '-' removed, '~' changed, '!' needs the packager.", ""]
        for section in self.sections:
            out.append(f"## {section.title}" + ("" if section.changed else " (unchanged)"))
            out += [f"  {line}" for line in section.lines]
            out.append("")
        return "\n".join(out)


def _added_removed(old: Iterable[str], new: Iterable[str]) -> list[str]:
    """Lines for what only one side has (a line written twice counts twice: another branch of an if())."""
    old_count, new_count = Counter(old), Counter(new)
    return ([f"- {item}" for item in sorted((old_count - new_count).elements())]
            + [f"+ {item}" for item in sorted((new_count - old_count).elements())])


def _presets(old: Mapping[str, Mapping[str, object]], new: Mapping[str, Mapping[str, object]]) -> list[str]:
    lines = [f"- preset {name}" for name in sorted(set(old) - set(new))]
    lines += [f"+ preset {name}: " + json.dumps(new[name], sort_keys=True) for name in sorted(set(new) - set(old))]
    for name in sorted(set(old) & set(new)):
        for key in sorted(set(old[name]) | set(new[name])):
            if old[name].get(key) != new[name].get(key):
                lines.append(f"~ preset {name}: {key} {old[name].get(key)!r} -> {new[name].get(key)!r}")
    return lines


def compare(old: Tree, new: Tree, rpm_version: str, manifest: str, go_license: str = "",
            licenses: LicenseLookup | None = None) -> BumpReport:
    sections: list[Section] = []

    rules = _added_removed(old.install_rules, new.install_rules)
    if old.llama_cpp_tag != new.llama_cpp_tag:
        rules.append(f"! llama.cpp {old.llama_cpp_tag} -> {new.llama_cpp_tag}: re-record {manifest} from a real "
                     "build (doc/verification.md); %files follows it")
    elif rules:
        rules.append(f"! install rules changed: re-record {manifest} from a real build before trusting %files")
    else:
        rules.append(f"{manifest} still applies (same llama.cpp {new.llama_cpp_tag}, same install() rules)")
    sections.append(Section("Install manifest (upstream install() rules)", rules))

    settings = _added_removed(old.settings, new.settings)
    sections.append(Section("CMake options and settings", settings or ["no option()/set() of a build variable changed"]))
    presets = _presets(old.presets, new.presets)
    sections.append(Section("CMake presets (llama/server/CMakePresets.json)",
                            presets or [f"{len(new.presets)} presets, same cacheVariables"]))

    pins = [f"~ {name}: {old.pins[name]} -> {new.pins[name]}" for name in sorted(set(old.pins) & set(new.pins))
            if old.pins[name] != new.pins[name]]
    pins += _added_removed([f"{n} {old.pins[n]}" for n in set(old.pins) - set(new.pins)],
                           [f"{n} {new.pins[n]}" for n in set(new.pins) - set(old.pins)])
    sections.append(Section("Upstream version pins (*_VERSION)",
                            pins or [", ".join(f"{n} {v}" for n, v in sorted(new.pins.items())) or "none"]))

    go = [f"~ go {old.go_version} -> {new.go_version} (BuildRequires golang >= {new.go_version})"] \
        if old.go_version != new.go_version else [f"go {new.go_version}"]
    gone = sorted(set(old.go_requires) - set(new.go_requires))
    came = sorted(set(new.go_requires) - set(old.go_requires))
    moved = sorted(m for m in set(old.go_requires) & set(new.go_requires) if old.go_requires[m] != new.go_requires[m])
    go += [f"- {m} {old.go_requires[m]}" for m in gone] + [f"+ {m} {new.go_requires[m]}" for m in came]
    go += [f"~ {m} {old.go_requires[m]} -> {new.go_requires[m]}" for m in moved]
    if not (gone or came or moved):
        go.append(f"{len(new.go_requires)} modules in go.mod, same versions")
    sections.append(Section("Go (go.mod)", go))

    lines = _license_lines(old, new, gone=gone, came=came, moved=moved, go_license=go_license, licenses=licenses)
    sections.append(Section("Go licenses", lines))

    patches = _added_removed(list(old.compat_patches), list(new.compat_patches))
    patches += [f"~ {p} (content changed)" for p in sorted(set(old.compat_patches) & set(new.compat_patches))
                if old.compat_patches[p] != new.compat_patches[p]]
    sections.append(Section("llama.cpp compat patches (llama/compat)",
                            patches or [f"{len(new.compat_patches)} patches, same content"]))
    return BumpReport(old.version, new.version, rpm_version, sections)


def _license_lines(old: Tree, new: Tree, *, gone: list[str], came: list[str], moved: list[str], go_license: str,
                   licenses: LicenseLookup | None) -> list[str]:
    if not (gone or came or moved):
        return ["no Go module added, removed or changed: the licenses are the same"]
    if licenses is None:
        return ["! modules changed; run `ollama-rpm vendor --license` to re-derive go.license"]
    before = licenses([(m, old.go_requires[m]) for m in gone + moved])
    after = licenses([(m, new.go_requires[m]) for m in came + moved])
    lines: list[str] = []
    known = set(re.findall(r"[\w.+-]+", go_license)) - {"AND", "OR", "WITH"}
    for prefix, modules, found, tree in (("-", gone + moved, before, old), ("+", came + moved, after, new)):
        for module in modules:
            ids = found.get(module)
            shown = ", ".join(ids) if isinstance(ids, list) else f"unknown ({ids})"
            lines.append(f"{prefix} {module} {tree.go_requires[module]}: {shown}")
    new_ids = sorted({i for ids in after.values() if isinstance(ids, list) for i in ids} - known)
    if new_ids:
        lines.append(f"! not yet in go.license: {', '.join(new_ids)}; run `ollama-rpm vendor --update-license`")
    return lines


# ---- licenses of modules, from Go's module cache ----------------------------------------

def module_licenses(modules: Iterable[tuple[str, str]], askalono: str, go: str = "go",
                    timeout: float = 300) -> dict[str, "list[str] | str"]:
    """`go mod download` each module@version (module proxy or cache) and ask askalono about its license files."""
    found: dict[str, list[str] | str] = {}
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-licenses-") as work:
        env = dict(os.environ, GOFLAGS="-mod=mod", GOWORK="off", GOTOOLCHAIN="local")
        for module, version in modules:
            try:
                proc = subprocess.run([go, "mod", "download", "-json", f"{module}@{version}"], cwd=work, env=env,
                                      capture_output=True, text=True, timeout=timeout)
                info = json.loads(proc.stdout or "{}")
            except (OSError, ValueError, subprocess.TimeoutExpired) as error:
                found[module] = f"go mod download: {error}"
                continue
            directory = info.get("Dir")
            if not directory:
                found[module] = str(info.get("Error") or proc.stderr.strip() or "no directory")
                continue
            ids: set[str] = set()
            for name in sorted(os.listdir(directory)):
                if _LICENSE_FILE.match(name):
                    out = subprocess.run([askalono, "id", os.path.join(directory, name)], capture_output=True,
                                         text=True).stdout
                    ids |= set(re.findall(r"^License: (\S+)", out, re.M))
            found[module] = sorted(ids) if ids else "no license file askalono recognises"
    return found


def write(report: BumpReport, path: StrPath) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(target, report.text())
    return target
