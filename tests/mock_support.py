"""Test helpers for the mock engine: read a config as mock does; a fake `mock` executable.

`load_mock_config` follows mockbuild.config: every `include(FILE)` line is
replaced by FILE's text (relative names resolved against the config dir,
recursively), the result is exec'd with `config_opts` in scope, starting from
defaults shaped like mock's own (plugin_conf/ccache_opts, macros, environment,
chroot_additional_packages), and finally Jinja templates in string values
(`{{ releasever }}`) are expanded, as mock does once every file is loaded.
"""

import json
import os
import re
import stat
import sys
from pathlib import Path

import jinja2

HERE = Path(__file__).resolve().parent
MOCK_ETC = HERE / "data" / "mock-etc"
LOGS = HERE / "data" / "buildlog"

_INCLUDE = re.compile(r"^\s*include\((.*)\)", re.MULTILINE)


def default_config_opts():
    """The part of mock's setup_default_config_opts() the generated configs touch."""
    return {
        "config_path": str(MOCK_ETC),
        "root": None,
        "chroot_additional_packages": [],
        "rpmbuild_networking": False,
        "macros": {"%_topdir": "/builddir/build",
                   "%_rpmfilename": "%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm"},
        "environment": {"TERM": "vt100", "SHELL": "/bin/bash", "HOME": "/builddir",
                        "HOSTNAME": "mock", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"},
        "plugin_conf": {
            "ccache_enable": False,
            "ccache_opts": {"max_cache_size": "4G", "compress": None,
                            "dir": "{{cache_topdir}}/{{root}}/ccache/u{{chrootuid}}/",
                            "hashdir": True, "debug": False, "show_stats": False},
            "yum_cache_enable": True,
            "root_cache_enable": True,
        },
    }


def _include(config_file, search_path, seen):
    path = Path(config_file)
    if not path.is_absolute():
        path = Path(search_path) / path
    if not path.exists():
        raise FileNotFoundError(f"Could not find included config file: {path}")
    if str(path) in seen:
        return ""
    seen.add(str(path))
    content = path.read_text()
    for argument in _INCLUDE.findall(content):
        sub = _include(eval(argument), search_path, seen)
        content = _INCLUDE.sub(lambda _match, sub=sub: sub, content, count=1)
    return content


def _expand(value, context):
    if isinstance(value, str) and "{{" in value:
        for _ in range(5):
            new = jinja2.Template(value).render(**context)
            if new == value:
                break
            value = new
        return value
    return value


def load_mock_config(cfg, confdir=MOCK_ETC):
    """config_opts after mock would have read `mock -r CFG`."""
    config_opts = default_config_opts()
    config_opts["config_path"] = str(confdir)
    content = _include(os.path.realpath(cfg), str(confdir), set())
    exec(content, {"config_opts": config_opts, "__builtins__": __builtins__})
    context = {k.replace(".", "_"): v for k, v in config_opts.items()}
    for key in ("root", "dnf.conf", "bootstrap_image", "dist"):
        if key in config_opts:
            config_opts[key] = _expand(config_opts[key], context)
    return config_opts


def repos(dnf_conf):
    """{repo id: {key: value}} of a dnf.conf text, [main] left out."""
    result, current = {}, None
    for line in dnf_conf.splitlines():
        line = line.strip()
        match = re.match(r"^\[(.+)\]$", line)
        if match:
            current = match.group(1)
            if current != "main":
                result[current] = {}
            continue
        if current and current != "main" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            result[current][key.strip()] = value.strip()
    return result


FAKE_MOCK = r'''#!{python}
"""A stand-in for mock: records argv, reads -r like mock, writes planned logs, exits as planned."""
import json, os, sys, time
from pathlib import Path

state = Path(os.environ["FAKE_MOCK_STATE"])
argv = sys.argv[1:]
with open(state / "argv.jsonl", "a") as out:
    out.write(json.dumps(argv) + "\n")

def opt(name):
    return argv[argv.index(name) + 1]

cfg, resultdir = opt("-r"), Path(opt("--resultdir"))
plan = json.loads((state / "plan.json").read_text())
step = plan.get(resultdir.name, plan.get("*", {{}}))
sys.path.insert(0, {support!r})
from mock_support import load_mock_config
try:
    opts = load_mock_config(cfg)
except Exception as error:
    print(f"ERROR: Config error: {{cfg}}: {{error}}")
    sys.exit(3)
(state / (resultdir.name + ".loaded.json")).write_text(json.dumps(
    {{"root": opts["root"], "ccache": opts["plugin_conf"]["ccache_enable"]}}))
resultdir.mkdir(parents=True, exist_ok=True)
for name, sample in step.get("logs", {{}}).items():
    with open(resultdir / name, "a") as log:
        for number, line in enumerate(Path(sample).read_text().splitlines(keepends=True)):
            log.write(line)
            log.flush()
            if step.get("slow") and number % 10 == 0:
                time.sleep(0.02)
for rpm in step.get("rpms", []):
    (resultdir / rpm).write_bytes(b"not really an rpm")
if step.get("console"):
    sys.stdout.write(Path(step["console"]).read_text())
sys.exit(step.get("exit", 0))
'''


def install_fake_mock(tmp_path, plan):
    """A `mock` on PATH (first) that follows `plan`; returns (env for run_cli, state dir).

    plan: {chroot: {"exit": N, "logs": {"build.log": sample path, ...},
                    "rpms": [names], "console": sample path, "slow": bool}}; "*" is the default.
    """
    bindir = tmp_path / "fakebin"
    state = tmp_path / "fake-mock-state"
    bindir.mkdir(exist_ok=True)
    state.mkdir(exist_ok=True)
    script = bindir / "mock"
    script.write_text(FAKE_MOCK.format(python=sys.executable, support=str(HERE)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (state / "plan.json").write_text(json.dumps(
        {chroot: {k: (str(v) if isinstance(v, Path) else
                      {n: str(p) for n, p in v.items()} if isinstance(v, dict) else v)
                  for k, v in step.items()} for chroot, step in plan.items()}))
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "FAKE_MOCK_STATE": str(state), "CI": "true"}
    return env, state


def recorded_argv(state):
    path = Path(state) / "argv.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
