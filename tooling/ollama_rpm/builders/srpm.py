"""`srpm`: a reproducible source RPM from the rendered spec and verified resolve.

Two runs on the same inputs give byte-identical SRPMs: SOURCE_DATE_EPOCH (from
the environment, else the newest changelog date) is the build time and the mtime
of every file in the payload, and the build host is "reproducible".
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ollama_rpm import atomic, project
from ollama_rpm.errors import ToolError, UsageError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.sources import reproducible, resolve, vendor
from ollama_rpm.sources.resolve import Report
from ollama_rpm.specgen import context, render, source_table
from ollama_rpm.specgen.config import Config, load_config


def default_outdir(root: StrPath) -> Path:
    return Path(root) / "build" / "SRPMS"


def check_spec_target(root: StrPath, config: Config, text: str, source_dir: StrPath,
                      spec_file: str | None = None) -> Path:
    """Where the spec goes; UsageError if that is the project's committed spec with other content."""
    spec = Path(source_dir) / (spec_file or f"{config.name}.spec")
    committed = Path(root) / spec.name
    if spec.resolve() == committed.resolve() and spec.exists() and atomic.read_text(spec) != text:
        raise UsageError(f"{committed}: differs from a fresh render and would be overwritten "
                         "(--source-dir is the project); run `ollama-rpm render` or pick another --source-dir")
    return spec


def write_spec(root: StrPath, config: Config, text: str, source_dir: StrPath, spec_file: str | None = None) -> Path:
    """Write the rendered spec as `<source_dir>/<name>.spec` (rpmbuild's _specdir is the source dir).

    Refuses to replace the project's own ollama.spec with different content.
    """
    spec = check_spec_target(root, config, text, source_dir, spec_file)
    if not (spec.exists() and atomic.read_text(spec) == text):
        atomic.write_text(spec, text)
    return spec


def rpmbuild_command(spec: StrPath, source_dir: StrPath, topdir: StrPath, srcrpmdir: StrPath,
                     macros: Iterable[StrPath] = ()) -> list[str]:
    command = ["rpmbuild", "-bs"]
    for path in macros:
        command += ["--load", str(path)]
    defines: dict[str, object] = {
        "_topdir": topdir, "_sourcedir": source_dir, "_specdir": Path(spec).parent,
        "_srcrpmdir": srcrpmdir, "_rpmdir": Path(topdir) / "RPMS",
        # rpmbuild -bs still creates these, and the header keeps the scripts that
        # name them: relative names (rpmbuild runs in the temporary topdir) keep
        # the temporary path out of the SRPM.
        "_builddir": "BUILD", "_buildrootdir": "BUILDROOT",
        "use_source_date_epoch_as_buildtime": 1, "clamp_mtime_to_source_date_epoch": 1,
        "_buildhost": "reproducible",
    }
    for name, value in defines.items():
        command += ["--define", f"{name} {value}"]
    return command + [str(spec)]


def build_srpm(root: StrPath, outdir: StrPath, *, config_path: StrPath | None = None,
               source_dir: StrPath | None = None, macros: Iterable[StrPath] = (), report: Report = print) -> Path:
    """Render, fetch/verify sources, vendor if needed, `rpmbuild -bs`; returns the SRPM path
    (the single layout's, or the main package's of a split layout)."""
    return build_srpms(root, outdir, config_path=config_path, source_dir=source_dir, macros=macros,
                       report=report)[0]


def build_srpms(root: StrPath, outdir: StrPath, *, config_path: StrPath | None = None,
                source_dir: StrPath | None = None, macros: Iterable[StrPath] = (), report: Report = print,
                layout: str | None = None, package: str | None = None) -> list[Path]:
    """build_srpm for every source package of the layout (packaging.yaml's, or `layout`),
    or only `package` (a source package name: Copr's make_srpm builds one per package):
    sources are fetched and vendored once; returns the SRPM paths, main first.

    The one way every command makes the SRPM (`srpm`, `build`, `copr submit`).
    `macros`: extra macro files for rpmbuild (`--load`), e.g. Fedora stand-ins in
    tests; those named in $OLLAMA_RPM_MACROS are always loaded first.
    """
    root = Path(root).resolve()
    outdir = Path(outdir).resolve()
    macro_paths = project.macro_files(macros)
    config = load_config(Path(config_path) if config_path else root / project.CONFIG_NAME)
    table = source_table.build(config)

    def rendered() -> list[tuple[context.SpecPackage, str]]:
        specs = render.render_specs(root, config, layout, table=table)
        if package:
            names = [spec_package.name for spec_package, _ in specs]
            specs = [(spec_package, text) for spec_package, text in specs if spec_package.name == package]
            if not specs:
                raise UsageError(f"--package {package}: not a source package of the "
                                 f"{layout or config.layout} layout; expected one of: {', '.join(names)}")
        return specs

    specs = rendered()
    source_dir = Path(source_dir).resolve() if source_dir else resolve.default_source_dir(root)
    epoch = reproducible.source_date_epoch(config)

    # Everything is checked before anything is built; missing project files fail first.
    atomic.check_output_dir(outdir, "--outdir")
    atomic.check_output_dir(source_dir, "--source-dir")
    for spec_package, text in specs:
        check_spec_target(root, config, text, source_dir, spec_package.spec_file)
    # One SourceSet for every spec: the backend specs' Sources are a subset of the main one's
    # (the two tarballs), so a backend package alone needs no Go modules and no project files.
    sset = resolve.resolve(config, source_dir, table=table)
    needs_main = any(not spec_package.backend for spec_package, _ in specs)
    if needs_main:
        resolve.check_project_files(sset)
    inputs = list(resolve.fetch_url_sources(sset, report=report).values())
    if needs_main:
        inputs.append(vendor.ensure_vendor(sset, report=report))
        # Vendoring rewrites go-vendor-tools.toml's record of the bundled C code
        # (Provides: bundled(sqlite)): the specs are rendered from what it says now.
        specs = rendered()
        for spec_package, text in specs:
            check_spec_target(root, config, text, source_dir, spec_package.spec_file)
        inputs += resolve.copy_project_files(sset, report=report)
    written = [write_spec(root, config, text, source_dir, spec_package.spec_file) for spec_package, text in specs]
    # The payload's mtimes are the files' mtimes, clamped: set them so runs agree.
    for path in [*written, *inputs]:
        os.utime(path, (epoch, epoch))

    outdir.mkdir(parents=True, exist_ok=True)
    return [_rpmbuild_bs(spec, source_dir, outdir, macro_paths, epoch) for spec in written]


def _rpmbuild_bs(spec: Path, source_dir: Path, outdir: Path, macros: Iterable[Path], epoch: int) -> Path:
    """`rpmbuild -bs` of one written spec in a private topdir; the SRPM lands in `outdir`."""
    work = Path(tempfile.mkdtemp(prefix=".srpm-", dir=outdir))
    try:
        srcrpmdir = work / "SRPMS"
        command = rpmbuild_command(spec, source_dir, work, srcrpmdir, macros)
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch), LC_ALL="C")
        try:
            proc = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True)
        except FileNotFoundError:
            raise ToolError("rpmbuild: command not found; install rpm-build (Fedora) or rpm (Debian)") from None
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            raise ToolError(f"rpmbuild -bs {spec.name} failed (exit {proc.returncode}): "
                            f"{lines[-1] if lines else 'no output'}")
        built = sorted(srcrpmdir.glob("*.src.rpm"))
        if len(built) != 1:
            raise ToolError(f"rpmbuild -bs {spec.name}: expected one .src.rpm, found {len(built)}")
        final = outdir / built[0].name
        os.replace(built[0], final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
