"""Check that the patches apply, the way the spec's %prep applies them.

Our patches (patches_dir) go onto the Ollama tree with -p1 and no fuzz
(%autopatch), then Ollama's llama.cpp compat patches onto the llama.cpp tree
with `git apply`, as %prep and upstream's llama/compat/apply-patch.cmake apply
them, on scratch copies of the two tarballs. `bump` runs this before it changes anything, so a release
that breaks a patch never reaches Copr.
"""

import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ollama_rpm import atomic
from ollama_rpm.errors import OllamaRpmError, ToolError, UsageError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.sources import archive
from ollama_rpm.specgen import source_table

if TYPE_CHECKING:
    from ollama_rpm.specgen.config import Config


class PatchError(OllamaRpmError):
    """A patch does not apply to the tree it is meant for (exit 1)."""


def _top(directory: StrPath) -> Path:
    entries = list(Path(directory).iterdir())
    if len(entries) != 1 or not entries[0].is_dir():
        raise PatchError(f"{directory}: expected one top directory in the tarball")
    return entries[0]


def _apply(patch: StrPath, tree: Path, what: str) -> None:
    atomic.check_regular(patch)          # `patch -i` on a FIFO would wait forever
    proc = subprocess.run(["patch", "-p1", "--fuzz=0", "--batch", "--forward", "--no-backup-if-mismatch",
                           "-d", str(tree), "-i", str(patch)], capture_output=True, text=True)
    if proc.returncode != 0:
        detail = next((line for line in proc.stdout.splitlines()
                       if "FAILED" in line or "can't find file" in line or "No file to patch" in line),
                      (proc.stdout.strip().splitlines() or [proc.stderr.strip()])[-1])
        raise PatchError(f"{Path(patch).name} does not apply to {what}: {detail.strip()}")


def _git_apply(patch: StrPath, tree: Path, what: str) -> None:
    # The ceiling stops git from using a repository above the scratch tree.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(Path(tree).parent))
    try:
        proc = subprocess.run(["git", "-C", str(tree), "apply", "--whitespace=nowarn", str(patch)],
                              capture_output=True, text=True, env=env)
    except FileNotFoundError:
        raise ToolError("git: command not found; the llama.cpp compat patches are applied with git apply") from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        detail = next((line for line in lines if line.startswith("error:")), lines[-1] if lines else "")
        raise PatchError(f"{Path(patch).name} does not apply to {what}: {detail.strip()}")
    leftovers = sorted(p.name for p in Path(tree).rglob("*") if p.suffix in (".orig", ".rej"))
    if leftovers:
        raise PatchError(f"{Path(patch).name} left {', '.join(leftovers)} in {what}")


def check(ollama_tarball: StrPath, patches: Iterable[StrPath], llama_tarball: StrPath | None = None,
          compat_patches: Iterable[str] = ()) -> list[str]:
    """Apply `patches` to the Ollama tarball's tree, then `compat_patches` (paths inside
    that tree) to the llama.cpp tarball's tree. Returns the names applied."""
    applied: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-patchcheck-") as tmp:
        ollama = _top(archive.safe_extract(ollama_tarball, Path(tmp) / "ollama"))
        for patch in patches:
            _apply(patch, ollama, ollama.name)
            applied.append(Path(patch).name)
        if llama_tarball is not None:
            llama = _top(archive.safe_extract(llama_tarball, Path(tmp) / "llama"))
            for rel in compat_patches:
                patch = ollama / rel
                if not patch.is_file():
                    raise PatchError(f"{rel}: listed in llama_cpp.compat_patches but not in {ollama.name}")
                _git_apply(patch, llama, llama.name)
                applied.append(rel)
    return applied


def check_source_dir(config: "Config", source_dir: Path) -> list[str]:
    """`check` on the Ollama and llama.cpp tarballs that `sources` put in `source_dir`
    (UsageError when one is not there): the patches applied, by name."""
    table = source_table.build(config)
    ollama, llama = (source_dir / table.role(role).file_name for role in (source_table.OLLAMA, source_table.LLAMA_CPP))
    for tarball in (ollama, llama):
        if not tarball.is_file():
            raise UsageError(f"{tarball}: not there; run `ollama-rpm sources` first")
    return check(ollama, [table.base / p.path for p in table.patches], llama, config.llama_cpp_compat_patches)


def project_patches(config: "Config") -> list[Path]:
    """The patches of `config`, in the order %autopatch applies them (read from its directory)."""
    return source_table.patch_files(source_table.base_dir(config), config.patches_dir)
