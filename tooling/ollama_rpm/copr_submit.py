"""Submit an SRPM to Copr with the `copr` client library (copr.v3).

Makes sure the project and its chroots exist with what the build needs (for
CUDA: NVIDIA's repository and `--with cuda` on the x86_64 chroots), uploads
the SRPM, waits and prints a chroot -> state table. The API token from the
Copr config is never printed: every message goes through `redact`.
"""

import os
import re
import sys
import threading
import time
from pathlib import Path

from ollama_rpm import mockcfg
from ollama_rpm.errors import (ConfigError, EXIT_FAILED, EXIT_OK, NetworkError, OllamaRpmError, ToolError,
                               UsageError)

DEFAULT_CONFIG = Path("~/.config/copr")
# Ollama >= 0.30 needs Go >= 1.26 (go.mod), which Fedora ships from release 44.
DEFAULT_CHROOTS = ("fedora-44-x86_64", "fedora-rawhide-x86_64")
# Backends whose build needs NVIDIA's repository in the chroot.
CUDA_BACKENDS = ("cuda", "cuda12")
FINAL = ("succeeded", "failed", "canceled", "skipped", "forked")
# Copr's chroot names: <os>-<release>-<arch>, with the architectures Copr builds for.
_CHROOT = re.compile(r"(?P<os>[a-z][a-z0-9]*(?:-[a-z]+)?)-(?P<release>[0-9]{1,3}|rawhide|tumbleweed|stream-[0-9]{1,2})"
                     r"-(?P<arch>x86_64|aarch64|ppc64le|s390x|i386)", re.A)
_PROJECT = re.compile(r"(@?[A-Za-z0-9][A-Za-z0-9._-]{0,99})/([A-Za-z0-9][A-Za-z0-9._+-]{0,99})", re.A)


class BuildFailed(OllamaRpmError):
    exit_code = EXIT_FAILED


def parse_project(text):
    match = _PROJECT.fullmatch(text or "")
    if not match:
        raise UsageError(f"--project {text!r}: expected OWNER/NAME (a group owner is @group)")
    return match.group(1), match.group(2)


def cuda_repo(chroot, with_=("cuda",)):
    """NVIDIA's repository URL for a Copr chroot (the facts are mockcfg's, shared
    with `build --engine mock`), and a warning when it is a fallback."""
    try:
        parsed = mockcfg.parse_chroot(chroot)
    except UsageError:
        raise UsageError(f"--with cuda: NVIDIA has no CUDA repository for chroot {chroot}; "
                         "use fedora-NN-<arch> or epel-NN-<arch> chroots") from None
    mockcfg.check_cuda12(parsed, with_)
    repo = mockcfg.cuda_repo(parsed)
    return repo.url, repo.warning


class Session:
    """One Copr client plus the secrets to keep out of every message."""

    def __init__(self, config_path, api_timeout=120.0, out=None):
        from copr.v3 import Client
        from copr.v3.exceptions import CoprException
        self.out = out or sys.stdout
        self.api_timeout = api_timeout
        path = Path(os.path.expanduser(str(config_path)))
        if not path.is_file():
            raise ConfigError(path, None, "no Copr API config; get one at "
                              "https://copr.fedorainfracloud.org/api/ and save it there (or pass --config)")
        self.secrets = _secrets_in(path)
        _check_config(path)
        try:
            self.client = Client.create_from_config_file(str(path))
        except (CoprException, ValueError, KeyError, AttributeError) as error:
            message = _first_line(error)
            if "%" in message or "configuration" in message.lower():
                # configparser quotes the offending value, which may be a piece of the token.
                message = "the copr client cannot read it (write a % in a value as %%)"
            raise ConfigError(path, None, self.redact(message)) from None
        cfg = self.client.config
        if not cfg.get("token") or not cfg.get("login"):
            raise ConfigError(path, "copr-cli", "no login/token; get a fresh config at "
                              f"{cfg.get('copr_url')}/api/")
        self.secrets.update(filter(None, [cfg.get("token")]))
        self.config_path = path
        self.copr_url = str(cfg["copr_url"]).rstrip("/")

    def redact(self, text):
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def print(self, text=""):
        print(self.redact(text), file=self.out, flush=True)

    def call(self, what, function, *args, **kwargs):
        """Run one API call with a deadline; map copr/requests errors to ours."""
        import requests
        from copr.v3.exceptions import (CoprAuthException, CoprException, CoprNoResultException,
                                        CoprTimeoutException)
        box = {}

        def target():
            try:
                box["value"] = function(*args, **kwargs)
            except BaseException as error:      # re-raised in the caller's thread
                box["error"] = error

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(self.api_timeout)
        if worker.is_alive():
            raise NetworkError(f"Copr ({self.copr_url}) did not answer within {self.api_timeout:g} s ({what})")
        error = box.get("error")
        if error is None:
            value = box.get("value")
            status = getattr(getattr(value, "__response__", None), "status_code", None)
            if status is None or 200 <= status < 300:
                return value
            # copr.v3 returns any JSON without an "error" key as the answer, whatever
            # the HTTP status: a 401 or 500 is no success.
            error = CoprException(f"HTTP {status} without an error message")
        else:
            status = _status(error)
        message = self.redact(_first_line(error))
        if isinstance(error, CoprAuthException) or status in (401, 403):
            raise ConfigError(self.config_path, "token",
                              f"Copr refused the API token (HTTP {status or 403}) while trying to {what}; "
                              f"it has probably expired: get a new one at {self.copr_url}/api/") from None
        if isinstance(error, CoprNoResultException):
            raise error
        if isinstance(error, CoprTimeoutException):
            raise NetworkError(f"Copr timed out (HTTP {status or 504}) while trying to {what}") from None
        if isinstance(error, CoprException):
            if status and status >= 500:
                raise NetworkError(f"Copr failed (HTTP {status}) while trying to {what}: {message}") from None
            if status and 400 <= status < 500:
                raise UsageError(f"Copr refused to {what} (HTTP {status}): {message}") from None
            raise NetworkError(f"Copr: cannot {what}: {message}") from None
        if isinstance(error, requests.RequestException):
            raise NetworkError(f"Copr: cannot {what}: {type(error).__name__}") from None
        if isinstance(error, OSError):
            raise UsageError(f"cannot {what}: {error.strerror or error}") from None
        if isinstance(error, (TypeError, ValueError, KeyError, AttributeError)):
            # copr.v3 chokes on JSON that is not an object (a list, a number, ...).
            raise NetworkError(f"Copr answered something that is not its API's JSON while trying to {what}") from None
        raise error


def _expect(answer, what, **fields):
    """`answer` is a JSON object whose `fields` have the given types, as the API documents."""
    if not isinstance(answer, dict) or any(not isinstance(answer.get(key), kind) or isinstance(answer.get(key), bool)
                                           for key, kind in fields.items()):
        names = ", ".join(fields) or "fields"
        raise NetworkError(f"Copr answered {type(answer).__name__} without {names} while trying to {what}")
    return answer


def _check_config(path):
    """What copr.v3 needs from the config, checked so that its KeyErrors never surface."""
    import configparser
    from ollama_rpm import atomic, grammar
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(atomic.read_text(path), source=str(path))
    except configparser.Error as error:
        raise ConfigError(path, None, f"not an INI file ({type(error).__name__})") from None
    if not parser.has_section("copr-cli"):
        raise ConfigError(path, "copr-cli", "missing section; get a fresh config at "
                          "https://copr.fedorainfracloud.org/api/")
    section = parser["copr-cli"]
    for key in ("login", "token", "copr_url"):
        if not section.get(key, "").strip():
            raise ConfigError(path, f"copr-cli.{key}", "missing; get a fresh config from your Copr's /api/ page")
    if grammar.url(section["copr_url"].strip()):
        raise ConfigError(path, "copr-cli.copr_url", "expected an https:// URL")


def _secrets_in(path):
    """Values of token-like keys in a copr config, read without trusting its format."""
    secrets = set()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return secrets
    for line in text.splitlines():
        match = re.match(r"^\s*(token|password)\s*[=:]\s*(\S.*?)\s*$", line)
        if match:
            secrets.add(match.group(2))
    return secrets


def _status(error):
    response = getattr(getattr(error, "result", None), "__response__", None)
    return getattr(response, "status_code", None)


def _first_line(error):
    lines = [line.strip(" -") for line in str(error).splitlines() if line.strip(" -")]
    return "; ".join(lines[:3])[:300] or type(error).__name__


def ensure_project(session, owner, name, chroots, with_cuda, create=True):
    """with_cuda: the CUDA backends (cuda, cuda12) to turn on; empty for none."""
    from copr.v3.exceptions import CoprNoResultException
    client = session.client
    full = f"{owner}/{name}"
    try:
        project = _expect(session.call(f"read project {full}", client.project_proxy.get, owner, name),
                          f"read project {full}")
    except CoprNoResultException:
        if not create:
            raise UsageError(f"Copr project {full} does not exist (create it, or drop --no-create)") from None
        try:
            project = session.call(f"create project {full}", client.project_proxy.add, owner, name,
                                   list(chroots), description="Ollama built from ollama-rpm",
                                   homepage="https://ollama.com", enable_net=False)
            project = _expect(project, f"create project {full}")
        except CoprNoResultException:
            raise UsageError(f"Copr project {full} does not exist and cannot be created: "
                             f"unknown owner {owner}") from None
        session.print(f"created Copr project {full}")
    chroot_repos = project.get("chroot_repos") or {}
    if not isinstance(chroot_repos, dict):
        raise NetworkError(f"Copr answered chroot_repos that is not a mapping for project {full}")
    enabled = set(chroot_repos)
    missing = [c for c in chroots if c not in enabled]
    if missing and enabled:
        session.call(f"enable chroots in {full}", client.project_proxy.edit, owner, name,
                     chroots=sorted(enabled | set(chroots)))
        session.print(f"enabled chroots: {', '.join(missing)}")
    if with_cuda:
        for chroot in chroots:
            if not chroot.endswith("x86_64"):
                continue
            repo, _ = cuda_repo(chroot, with_cuda)
            current = _expect(session.call(f"read chroot {chroot} of {full}", client.project_chroot_proxy.get,
                                           owner, name, chroot), f"read chroot {chroot} of {full}")
            repos = list(current.get("additional_repos") or [])
            opts = list(current.get("with_opts") or [])
            missing = [backend for backend in with_cuda if backend not in opts]
            if repo in repos and not missing:
                continue
            session.call(f"configure chroot {chroot} of {full}", client.project_chroot_proxy.edit,
                         owner, name, chroot,
                         additional_repos=repos + ([repo] if repo not in repos else []),
                         with_opts=opts + missing)
            session.print(f"{chroot}: added NVIDIA CUDA repository and "
                          + ", ".join(f"--with {backend}" for backend in with_cuda))
    return project


def build_url(copr_url, owner, name, build_id):
    path = f"g/{owner[1:]}" if owner.startswith("@") else owner
    return f"{copr_url}/coprs/{path}/{name}/build/{build_id}/"


def wait(session, build_id, chroots, interval, timeout, plain, url=""):
    client = session.client
    deadline = time.monotonic() + timeout if timeout else None
    last = {}
    spinner = "|/-\\"
    tick = 0
    while True:
        build = _expect(session.call(f"read build {build_id}", client.build_proxy.get, build_id),
                        f"read build {build_id}", state=str)
        listing = session.call(f"read chroots of build {build_id}", client.build_chroot_proxy.get_list, build_id)
        if not isinstance(listing, list):
            raise NetworkError(f"Copr answered {type(listing).__name__}, not a list, for the chroots of build {build_id}")
        states = {_expect(item, f"read chroots of build {build_id}", name=str)["name"]: str(item.get("state", "?"))
                  for item in listing}
        for chroot in chroots:
            states.setdefault(chroot, build.get("state", "?") if build.get("state") in ("pending", "importing")
                              else "?")
        if plain:
            for chroot in sorted(states):
                if last.get(chroot) != states[chroot]:
                    session.print(f"{chroot}: {states[chroot]}")
        else:
            summary = "  ".join(f"{c}: {s}" for c, s in sorted(states.items()))
            session.out.write(f"\r{spinner[tick % 4]} build {build_id} {build.get('state')}  {summary}\033[K")
            session.out.flush()
            tick += 1
        last = states
        if build.get("state") in FINAL and all(s in FINAL for s in states.values()):
            if not plain:
                session.out.write("\n")
            return build, states
        if deadline and time.monotonic() >= deadline:
            if not plain:
                session.out.write("\n")
            raise BuildFailed(f"Copr build {build_id} is still {build.get('state')} after {timeout:g} s; "
                              f"it goes on: see {url}")
        time.sleep(interval)


def table(states):
    width = max([len("chroot")] + [len(c) for c in states])
    lines = [f"{'chroot'.ljust(width)}  state", f"{'-' * width}  -----"]
    lines += [f"{chroot.ljust(width)}  {state}" for chroot, state in sorted(states.items())]
    return lines


def submit(project, chroots=(), with_=(), srpm=None, wait_for=True, config=None, create=True,
           interval=30.0, timeout=0.0, api_timeout=120.0, root=None, out=None, plain=None):
    owner, name = parse_project(project)
    chroots = list(dict.fromkeys(chroots or DEFAULT_CHROOTS))
    for chroot in chroots:
        if not _CHROOT.fullmatch(chroot):
            raise UsageError(f"--chroot {chroot[:60]!r}: expected a Copr chroot like fedora-44-x86_64")
    unknown = [w for w in with_ if w not in CUDA_BACKENDS]
    if unknown:
        raise UsageError(f"--with {unknown[0]}: only {' and '.join(CUDA_BACKENDS)} need Copr-side setup")
    with_cuda = tuple(dict.fromkeys(with_))
    warnings = []
    if with_cuda:
        for chroot in chroots:
            if chroot.endswith("x86_64"):
                _, warning = cuda_repo(chroot, with_cuda)        # fail before touching Copr
                warnings += [warning] if warning else []
    if srpm is not None:
        srpm = Path(srpm)
        if not srpm.is_file() or not srpm.name.endswith(".src.rpm"):
            raise UsageError(f"--srpm {srpm}: not an existing .src.rpm file")
    session = Session(config or DEFAULT_CONFIG, api_timeout=api_timeout, out=out)
    if plain is None:
        plain = not session.out.isatty() or bool(os.environ.get("CI"))

    for warning in warnings:
        print(f"ollama-rpm: warning: {warning}", file=sys.stderr)
    ensure_project(session, owner, name, chroots, with_cuda, create=create)

    if srpm is None:
        srpm = _build_srpm(root, session)
    session.print(f"uploading {srpm.name} to {owner}/{name} ({', '.join(chroots)})")
    build = _expect(session.call(f"upload {srpm.name} to {owner}/{name}", session.client.build_proxy.create_from_file,
                                 owner, name, str(srpm), buildopts={"chroots": chroots}),
                    f"upload {srpm.name}", id=int)
    url = build_url(session.copr_url, owner, name, build["id"])
    session.print(f"build {build['id']}: {url}")
    if not wait_for:
        return EXIT_OK
    final, states = wait(session, build["id"], chroots, interval, timeout, plain, url)
    for line in table(states):
        session.print(line)
    session.print(f"build {build['id']} {final.get('state')}: {url}")
    if final.get("state") != "succeeded" or any(s != "succeeded" for s in states.values()):
        raise BuildFailed(f"Copr build {build['id']} {final.get('state')}; logs at {url}")
    return EXIT_OK


def _build_srpm(root, session):
    from ollama_rpm.srpm import build_srpm
    import tempfile
    from ollama_rpm import project as project_mod
    root = Path(root or project_mod.find_root())
    outdir = Path(tempfile.mkdtemp(prefix="ollama-rpm-copr-"))
    srpm = build_srpm(root, outdir)
    if not srpm or not Path(srpm).is_file():
        raise ToolError("building the SRPM gave no file")
    session.print(f"built {Path(srpm).name}")
    return Path(srpm)
