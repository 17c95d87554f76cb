"""Shared test helpers: the project checkout, Fedora macro stand-ins, scratch projects."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ollama_rpm import hostenv

REPO = Path(__file__).resolve().parents[1]
STANDIN_MACROS = REPO / "tests" / "support" / "fedora-macros.standin"
# Files a project needs to render and build (the same template as the real package).
PROJECT_FILES = ("ollama.spec.j2", "packaging.yaml", "go-vendor-tools.toml", "ollama.rpmlintrc",
                 "tests/data/upstream-install-manifest.txt")
PROJECT_DIRS = ("patches", "units", "sysusers", "doc", "lint")


def copy_project(dest):
    """A scratch copy of this project (template, config, patches, units...)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        if (REPO / name).exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    for name in PROJECT_DIRS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dest / name, dirs_exist_ok=True)
    return dest


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


def write_yaml(path, data):
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


def run_cli(*args, cwd=None, env=None, check=False, timeout=None):
    """Run `ollama-rpm` as a user would: a real process, its exit code and output
    (`timeout`: seconds, for a case whose bug is a hang)."""
    import os
    full_env = dict(os.environ, PYTHONPATH=str(REPO / "tooling"))
    full_env.pop("OLLAMA_RPM_PROJECT", None)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "ollama_rpm", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ollama-rpm {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """The repository's default config rendered once into a scratch spec."""
    out = tmp_path_factory.mktemp("spec") / "ollama.spec"
    run_cli("render", "-o", out, cwd=REPO, check=True)
    return out


#: NVIDIA's nvcc as .ci/bootstrap installs it from PyPI (.ci/cuda-wheels).
BOOTSTRAP_NVCC = REPO / ".cache" / "cuda" / "nvidia" / "cu13" / "bin" / "nvcc"


def find_nvcc():
    """NVIDIA's nvcc: $CUDACXX, /usr/local/cuda, PATH, then the one .ci/bootstrap installs."""
    for candidate in (os.environ.get("CUDACXX"), "/usr/local/cuda/bin/nvcc", shutil.which("nvcc"),
                      str(BOOTSTRAP_NVCC)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None

# Skips that are right on a Debian CI machine: what it cannot have (mock, the
# real upstream tarballs, a GPU) or cannot do (root reads every file). Any other
# skip means a tool went missing, and under CI (CI set) it fails the run.
EXPECTED_SKIP_REASONS = (
    "real mock unavailable",
    "root reads every file",
    "OLLAMA_RPM_REAL_SOURCES",
    "OLLAMA_RPM_REAL_MACROS",
)
_unexpected_skips = []


def pytest_runtest_logreport(report):
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]
        if not any(expected in reason for expected in EXPECTED_SKIP_REASONS):
            _unexpected_skips.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    if _unexpected_skips and hostenv.in_ci() and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _unexpected_skips and hostenv.in_ci():
        terminalreporter.section("unexpected skips (CI): a tool the tests need is missing")
        for line in _unexpected_skips:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def fixture_rpms(tmp_path_factory):
    """The fixture built once into RPMs for every test module that inspects them
    (see e2e_support.build_fixture_rpms): default backends minus ROCm (the
    fixture has no HIP backend), with an EL-style global -march that the CPU
    variants must not inherit."""
    from e2e_support import build_fixture_rpms
    from fixture.project import march_macros
    tmp = tmp_path_factory.mktemp("e2e")
    march = march_macros(tmp / "march.macros")
    result = build_fixture_rpms(tmp, build_args=("--without", "rocm"), macros=(march,))
    yield result
    result["server"].stop()
