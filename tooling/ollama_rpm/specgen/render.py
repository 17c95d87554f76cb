"""Render ollama.spec from ollama.spec.j2 and packaging.yaml."""

import difflib
from pathlib import Path

import jinja2

from ollama_rpm import atomic, project
from ollama_rpm.errors import ConfigError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.specgen import context, cpu_levels, source_table
from ollama_rpm.specgen.config import Config, load_config
from ollama_rpm.specgen.context import SpecPackage
from ollama_rpm.specgen.source_table import SourceTable


def environment(root: StrPath) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,   # a typo in the template is an error, not ""
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_text(root: StrPath, config: Config, table: SourceTable | None = None,
                package: SpecPackage | None = None, dist_git: bool = False) -> str:
    """The spec of one source package (default: the single layout's ollama.spec);
    `table`: the source table when the caller has built it already; `dist_git`:
    Release and %changelog as rpmautospec's macros (Fedora dist-git)."""
    root = Path(root)
    atomic.check_regular(root / project.TEMPLATE_NAME)      # jinja2 would read a FIFO forever
    try:
        template = environment(root).get_template(project.TEMPLATE_NAME)
        return template.render(**context.build(config, package, table, dist_git))
    except jinja2.TemplateSyntaxError as error:
        raise ConfigError(root / project.TEMPLATE_NAME, f"line {error.lineno}", error.message or str(error)) from None
    except jinja2.UndefinedError as error:
        raise ConfigError(root / project.TEMPLATE_NAME, None, f"undefined value: {error.message}") from None


def render_specs(root: StrPath, config: Config, layout: str | None = None,
                 table: SourceTable | None = None) -> list[tuple[SpecPackage, str]]:
    """[(SpecPackage, spec text)] of every source package of the layout, main first:
    the same template rendered once per package, from one source table."""
    table = table or source_table.build(config)
    return [(package, render_text(root, config, table, package))
            for package in context.packages(config, layout)]


def load_and_render(root: StrPath, config_path: StrPath | None = None) -> tuple[Config, str]:
    root = Path(root)
    config = load_config(config_path or root / project.CONFIG_NAME)
    return config, render_text(root, config)


def unmapped_variants_warning(config: Config) -> str | None:
    """ggml builds every x86 CPU variant it knows: one that packaging.yaml gives no level
    is a file no package owns, and rpmbuild stops on it. The warning, or None."""
    unmapped = sorted(set(cpu_levels.X86_VARIANT_FEATURES) - {v for v, _ in config.cpu_x86_64})
    if not unmapped:
        return None
    return (f"{config.path}: cpu_variants.x86_64 has no level for {', '.join(unmapped)}; if llama.cpp "
            f"{config.llama_cpp_tag} builds them, rpmbuild stops on unpackaged files")


def write(output: StrPath, text: str) -> None:
    atomic.write_text(output, text)


def drift(output: StrPath, text: str) -> str:
    """Unified diff between the spec on disk and `text`; "" when identical."""
    output = Path(output)
    current = atomic.read_text(output) if output.exists() else ""
    diff = difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                fromfile=f"{output} (committed)", tofile=f"{output} (rendered)")
    return "".join(diff)
