"""README.md stays short, starts with the two setup commands, and tells the truth
about them; its links and the doc/ pages' references to each other resolve."""

import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

from ollama_rpm.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SETUP = [".ci/bootstrap && ./ollama-rpm render", ".ci/bootstrap && .venv/bin/python -m pytest"]


def code_blocks(text: str) -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"```sh\n(.*?)```", text, re.S)]


def command(line: str) -> str:
    return line.split("#", 1)[0].strip()


def test_readme_is_short():
    assert len(README.read_text().splitlines()) <= 200


def test_the_two_setup_commands_come_first():
    text = README.read_text()
    first = code_blocks(text)[0]
    assert [command(line) for line in first] == SETUP
    # Nothing but the title and one sentence before them.
    assert text.index("```sh") < 200


def test_the_setup_commands_are_what_ci_runs():
    for path in (".ci/bootstrap", "ollama-rpm", ".ci/check"):
        assert os.access(ROOT / path, os.X_OK), path
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ".ci/bootstrap" in ci and ".ci/check" in ci
    assert ".venv/bin/python -m pytest" in ci, "README's test command is the one .ci/run runs"
    assert ci.index(".ci/bootstrap") < ci.index(".ci/check") < ci.index(".venv/bin/python -m pytest")


def test_the_fast_subset_marker_exists():
    assert 'pytest -m "not slow"' in README.read_text()
    assert '"slow:' in (ROOT / "pyproject.toml").read_text()


def readme_commands() -> list[str]:
    return [command(line) for block in code_blocks(README.read_text()) for line in block
            if command(line).startswith("./ollama-rpm ") and "&&" not in line]


@pytest.mark.parametrize("line", readme_commands())
def test_every_readme_command_parses(line):
    args = [a for a in shlex.split(line.replace("[", "").replace("]", ""))[1:]]
    build_parser().parse_args(args)


def linked_paths(text: str) -> set[str]:
    links = set(re.findall(r"\]\(([^)#]+)\)", text))
    links |= set(re.findall(r"(?<![\w/.])(doc/[\w.-]+)", text))
    return {link.rstrip(".,") for link in links if "://" not in link}


def test_readme_links_resolve_and_every_doc_page_is_linked():
    links = linked_paths(README.read_text())
    assert not {link for link in links if not (ROOT / link).exists()}
    pages = {f"doc/{p.name}" for p in (ROOT / "doc").iterdir() if p.suffix == ".md" or p.name == "README.Fedora"}
    assert pages - links == set(), "doc pages the README does not lead to"
    assert {"LICENSE", "NEWS.md"} <= links


def test_doc_pages_refer_only_to_pages_that_exist():
    for page in (ROOT / "doc").glob("*.md"):
        missing = {link for link in linked_paths(page.read_text()) if link.startswith("doc/")
                   and not (ROOT / link).exists()}
        assert not missing, f"{page.name}: {missing}"


def test_the_ci_workflow_runs_what_doc_checks_says():
    """doc/checks.md: in a privileged fedora:44 container it runs render --check,
    srpm, build --engine mock --chroot fedora-44-x86_64, then lint --format junit
    --output lint.xml, and uploads results/ and lint.xml. (Read, not run: no test
    runs GitHub Actions.)"""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "rpm.yml").read_text())
    job = workflow["jobs"]["rpm"]
    assert job["container"]["image"].endswith("/fedora:44")
    assert "--privileged" in job["container"]["options"]
    runs = [step["run"].strip() for step in job["steps"] if "run" in step]
    order = ["./ollama-rpm render --check", "./ollama-rpm srpm",
             "./ollama-rpm build --engine mock --chroot fedora-44-x86_64",
             "./ollama-rpm lint --format junit --output lint.xml"]
    assert [run for run in runs if run in order] == order
    for run in order:
        build_parser().parse_args(shlex.split(run)[1:])
    upload = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"].split() == ["results/", "lint.xml"]
    assert "`.github/workflows/rpm.yml` is a ready CI job" in (ROOT / "doc" / "checks.md").read_text()
