"""What a Fedora dist-git repository of the package holds, written from the project.

- `ollama.spec`: the single layout rendered with `Release: %autorelease` and
  `%autochangelog` (rpmautospec), CUDA left out (not free software: not in Fedora;
  the Copr path keeps it);
- `changelog`: packaging.yaml's changelog as rpmautospec's changelog file (the
  entries before the first rpmautospec commit, as `rpmautospec convert` leaves them);
- `sources`: fedpkg's lookaside list, `SHA512 (name) = <hex>` for each Source that
  is not in git (the upstream tarballs and the Go vendor tarball), and `.gitignore`
  naming them as `fedpkg new-sources` does;
- the project Sources and Patches (units, sysusers, README.Fedora and the models drop-in
  example, go-vendor-tools.toml, patches) and the rpmlintrc, under the names the spec gives them;
- `.packit.yaml`: release monitoring opens a dist-git pull request, made with this
  toolkit's own commands; Koji builds and Bodhi updates follow merged Packit PRs.
"""

import dataclasses
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

from ollama_rpm import atomic
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.sources import resolve, vendor
from ollama_rpm.specgen import backends, context, render, source_table
from ollama_rpm.specgen.config import Config

Report = Callable[[str], object]

RPMLINTRC = "ollama.rpmlintrc"
# The lookaside holds what is not text we maintain: the Sources downloaded or generated.
LOOKASIDE_ORIGINS = ("url", "generated")


def fedora_config(config: Config) -> Config:
    """The config Fedora builds: every backend whose toolkit is not free software (CUDA) removed."""
    return dataclasses.replace(config, backends=tuple(b for b in config.backends
                                                      if not backends.info(b.name).toolkit.nvidia_repo))


def sha512(path: StrPath) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sources_file(paths: list[Path]) -> str:
    """fedpkg's `sources`: one `SHA512 (name) = <hex>` line per lookaside file."""
    return "".join(f"SHA512 ({path.name}) = {sha512(path)}\n" for path in paths)


def changelog_file(config: Config) -> str:
    """rpmautospec's `changelog` file: the %changelog entries the spec had before %autochangelog."""
    blocks = []
    for entry in context.changelog(config):
        body = entry["lines"]
        assert isinstance(body, list)
        lines = [str(entry["header"]), *map(str, body)]
        blocks.append("".join(f"{line}\n" for line in lines))
    return "\n".join(blocks)


def packit_yaml(config: Config, spec_name: str, toolkit_url: str) -> str:
    return f"""\
# Packit in Fedora dist-git, written by `ollama-rpm dist-git` (https://packit.dev/docs/configuration/).
# Release monitoring (release-monitoring.org) reports a new Ollama release; Packit's
# pull_from_upstream job then opens a pull request against this repository. The spec
# is not edited by Packit's own version bump: several Sources follow a release (the
# llama.cpp tag Ollama pins, the Go vendor tarball, the manifest-driven %files), so the
# toolkit that made this repository regenerates it with its own commands in the
# pre-sync action: bump (reads the release's real tarballs, runs the bump report),
# vendor (the Go vendor tarball and go.license), dist-git (this tree, sources file).
# Fedora CI builds and tests every pull request; Copr builds of the same spec, with
# CUDA, come from the packaging project (`ollama-rpm copr submit`).
specfile_path: {spec_name}
downstream_package_name: {config.name}
upstream_project_url: https://github.com/ollama/ollama
upstream_tag_template: "v{{version}}"
# The packaging project (ollama-rpm and its packaging.yaml), cloned into the sandbox.
actions:
  post-upstream-clone:
    - git clone --depth 1 {toolkit_url} /tmp/ollama-rpm
  pre-sync:
    - bash -c "cd /tmp/ollama-rpm && ./ollama-rpm bump --to \\"$PACKIT_PROJECT_VERSION\\" --no-commit"
    - bash -c "cd /tmp/ollama-rpm && ./ollama-rpm vendor --update-lock --license"
    - bash -c "cd /tmp/ollama-rpm && ./ollama-rpm dist-git \\"$PACKIT_DOWNSTREAM_REPO\\""
jobs:
  - job: pull_from_upstream
    trigger: release
    dist_git_branches:
      - fedora-rawhide
  - job: koji_build
    trigger: commit
    dist_git_branches:
      - fedora-rawhide
  - job: bodhi_update
    trigger: koji_build
    dist_git_branches:
      - fedora-branched
"""


def write_dist_git(root: StrPath, out_dir: StrPath, config: Config, toolkit_url: str,
                   source_dir: StrPath | None = None, report: Report = print) -> list[Path]:
    """Write the dist-git tree into `out_dir`; returns the files written (sorted)."""
    root, out = Path(root), Path(out_dir)
    atomic.check_output_dir(out, "DIR")
    fedora = fedora_config(config)
    table = source_table.build(fedora)
    spec_name = f"{fedora.name}.spec"
    spec = render.render_text(root, fedora, table, dist_git=True)
    sset = resolve.resolve(fedora, Path(source_dir) if source_dir else resolve.default_source_dir(root), table=table)
    fetched = resolve.fetch_url_sources(sset, report=report)
    lookaside = [fetched[s.role] for s in table.sources if s.origin == "url"]
    lookaside += [vendor.ensure_vendor(sset, report=report) for s in table.sources if s.origin == "generated"]
    texts = {spec_name: spec, "sources": sources_file(lookaside), "changelog": changelog_file(fedora),
             ".packit.yaml": packit_yaml(fedora, spec_name, toolkit_url),
             ".gitignore": "".join(f"/{path.name}\n" for path in lookaside)}
    written: list[Path] = []
    for name, text in texts.items():
        atomic.write_text(out / name, text)
        written.append(out / name)
    copies = list(table.project_files())
    if (root / RPMLINTRC).is_file():
        copies.append((root / RPMLINTRC, RPMLINTRC))
    for src, name in copies:
        atomic.write_bytes(out / name, src.read_bytes())
        shutil.copymode(src, out / name)
        written.append(out / name)
    report(f"{out}: {spec_name}, sources ({len(lookaside)} lookaside files), {len(copies)} files from the project")
    return sorted(written)
