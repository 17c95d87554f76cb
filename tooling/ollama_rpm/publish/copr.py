"""Submit an SRPM to Copr with the `copr` client library (copr.v3).

Makes sure the project and its chroots exist with what the build needs (for
CUDA: NVIDIA's repository on the chroots of the CUDA backend's arches, by the
backend registry's repository policy, shared with `build --engine mock`),
uploads the SRPM(s), waits and prints a chroot -> state table.

Single layout: one build; `--with`/`--without` become the chroots' with_opts /
without_opts (mock flips the spec's %bconds). Split layout: one build per
source package, ollama first, then every backend package as one batch after it
(Copr's after_build_id, then with_build_id): the backends build side by side,
and none is published before the ollama it requires.

The API token from the Copr config is never printed: every message goes
through `redact`.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from ollama_rpm import hostenv, textout
from ollama_rpm.errors import EXIT_FAILED, EXIT_OK, ConfigError, NetworkError, OllamaRpmError, ToolError, UsageError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.specgen import backends, context

if TYPE_CHECKING:
    from ollama_rpm.specgen.config import Backend, Config

DEFAULT_CONFIG = Path("~/.config/copr")
# Ollama >= 0.30 needs Go >= 1.26 (go.mod), which Fedora ships from release 44.
DEFAULT_CHROOTS = backends.DEFAULT_COPR_CHROOTS
# copr_url may be plain http only where the token stays on this machine (a local test server).
LOOPBACK = ("127.0.0.1", "localhost", "::1")
FINAL = ("succeeded", "failed", "canceled", "skipped", "forked")
_PROJECT = re.compile(r"(@?[A-Za-z0-9][A-Za-z0-9._-]{0,99})/([A-Za-z0-9][A-Za-z0-9._+-]{0,99})", re.A)


class BuildFailed(OllamaRpmError):
    exit_code = EXIT_FAILED


def parse_project(text: str | None) -> tuple[str, str]:
    match = _PROJECT.fullmatch(text or "")
    if not match:
        raise UsageError(f"--project {text!r}: expected OWNER/NAME (a group owner is @group)")
    return match.group(1), match.group(2)


def cuda_repo(chroot: str, with_: Collection[str] = ("cuda",), override: int | None = None) -> tuple[str, str | None]:
    """NVIDIA's repository URL for a Copr chroot (the registry's policy, shared
    with `build --engine mock`), and a warning when it is a fallback."""
    parsed = backends.parse_chroot(chroot, any_copr=True)
    if not parsed.supported:
        raise UsageError(f"--with cuda: NVIDIA has no CUDA repository for chroot {chroot}; "
                         "use fedora-NN-<arch> or epel-NN-<arch> chroots")
    backends.check_cuda12(parsed, with_)
    repo = backends.cuda_repo(parsed, override)
    return repo.url, repo.warning


class Session:
    """One Copr client plus the secrets to keep out of every message."""

    def __init__(self, config_path: StrPath, api_timeout: float = 120.0, out: TextIO | None = None) -> None:
        from copr.v3 import Client
        from copr.v3.exceptions import CoprException
        self.out = out or sys.stdout
        self.api_timeout = api_timeout
        path = Path(os.path.expanduser(str(config_path)))
        if not path.is_file():
            raise ConfigError(path, None, "no Copr API config; get one at "
                              "https://copr.fedorainfracloud.org/api/ and save it there (or pass --copr-config)")
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

    def redact(self, text: str) -> str:
        return textout.redact(text, self.secrets)

    def print(self, text: str = "") -> None:
        print(self.redact(text), file=self.out, flush=True)

    def call(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one API call with a deadline; map copr/requests errors to ours."""
        from copr.v3.exceptions import CoprException
        box: dict[str, Any] = {}

        def target() -> None:
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
        ours = self._ours(error, status, what)
        if ours is error:
            raise error
        raise ours from None

    def _ours(self, error: BaseException, status: int | None, what: str) -> BaseException:
        """The error of ours that a failed call to `what` means (`error` itself: pass it on)."""
        import requests
        from copr.v3.exceptions import CoprAuthException, CoprException, CoprNoResultException, CoprTimeoutException
        message = self.redact(_first_line(error))
        if isinstance(error, CoprAuthException) or status in (401, 403):
            return ConfigError(self.config_path, "token",
                               f"Copr refused the API token (HTTP {status or 403}) while trying to {what}; "
                               f"it has probably expired: get a new one at {self.copr_url}/api/")
        if isinstance(error, CoprNoResultException):
            return cast(BaseException, error)   # "not found": the callers handle it (copr.v3 is untyped)
        if isinstance(error, CoprTimeoutException):
            return NetworkError(f"Copr timed out (HTTP {status or 504}) while trying to {what}")
        if isinstance(error, CoprException):
            if status and status >= 500:
                return NetworkError(f"Copr failed (HTTP {status}) while trying to {what}: {message}")
            if status and 400 <= status < 500:
                return UsageError(f"Copr refused to {what} (HTTP {status}): {message}")
            return NetworkError(f"Copr: cannot {what}: {message}")
        if isinstance(error, requests.RequestException):
            return NetworkError(f"Copr: cannot {what}: {type(error).__name__}")
        if isinstance(error, OSError):
            return UsageError(f"cannot {what}: {error.strerror or error}")
        if isinstance(error, (TypeError, ValueError, KeyError, AttributeError)):
            # copr.v3 chokes on JSON that is not an object (a list, a number, ...).
            return NetworkError(f"Copr answered something that is not its API's JSON while trying to {what}")
        return error


def _expect(answer: object, what: str, **fields: type) -> dict[str, Any]:
    """`answer` is a JSON object whose `fields` have the given types, as the API documents."""
    if not isinstance(answer, dict) or any(not isinstance(answer.get(key), kind) or isinstance(answer.get(key), bool)
                                           for key, kind in fields.items()):
        names = ", ".join(fields) or "fields"
        raise NetworkError(f"Copr answered {type(answer).__name__} without {names} while trying to {what}")
    return answer


def _check_config(path: Path) -> None:
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
    url = section["copr_url"].strip()
    parts = urllib.parse.urlsplit(url) if url.isascii() and url.isprintable() else None
    if parts and parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ConfigError(path, "copr-cli.copr_url", f"{url[:80]}: HTTPS is required (the API token must not "
                          "cross the network in clear text); write https://")
    if grammar.url(url):
        raise ConfigError(path, "copr-cli.copr_url", "expected an https:// URL")


def _secrets_in(path: Path) -> set[str]:
    """Values of token-like keys in a copr config, read without trusting its format."""
    secrets: set[str] = set()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return secrets
    for line in text.splitlines():
        match = re.match(r"^\s*(token|password)\s*[=:]\s*(\S.*?)\s*$", line)
        if match:
            secrets.add(match.group(2))
    return secrets


def _status(error: BaseException) -> int | None:
    response = getattr(getattr(error, "result", None), "__response__", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _first_line(error: BaseException) -> str:
    lines = [line.strip(" -") for line in str(error).splitlines() if line.strip(" -")]
    return "; ".join(lines[:3])[:300] or type(error).__name__


def ensure_project(session: Session, owner: str, name: str, chroots: Sequence[str],
                   setup: Mapping[str, ChrootSetup], create: bool = True) -> dict[str, Any]:
    """`setup`: {chroot: ChrootSetup} for the chroots that need more than Copr's defaults."""
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
    if project.get("auto_prune") is True:
        # Copr's default, which only a Copr admin can turn off (the API refuses
        # auto_prune=False from anyone else): its daily prune deletes the builds of
        # a package that a newer build supersedes once they are 14 days old.
        session.print(f"note: Copr prunes superseded builds of {full} older than 14 days (auto_prune; "
                      "Copr admins can turn it off): `dnf downgrade ollama` reaches back only that far")
    chroot_repos = project.get("chroot_repos") or {}
    if not isinstance(chroot_repos, dict):
        raise NetworkError(f"Copr answered chroot_repos that is not a mapping for project {full}")
    enabled = set(chroot_repos)
    missing = [c for c in chroots if c not in enabled]
    if missing and enabled:
        session.call(f"enable chroots in {full}", client.project_proxy.edit, owner, name,
                     chroots=sorted(enabled | set(chroots)))
        session.print(f"enabled chroots: {', '.join(missing)}")
    for chroot in chroots:
        wanted = setup.get(chroot)
        if wanted is None:
            continue
        current = _expect(session.call(f"read chroot {chroot} of {full}", client.project_chroot_proxy.get,
                                       owner, name, chroot), f"read chroot {chroot} of {full}")
        repos = list(current.get("additional_repos") or [])
        opts = list(current.get("with_opts") or [])
        without = list(current.get("without_opts") or [])
        new_repos = [r for r in wanted.repos if r not in repos]
        new_with = [b for b in wanted.with_ if b not in opts]
        new_without = [b for b in wanted.without if b not in without]
        if not (new_repos or new_with or new_without):
            continue
        changes: dict[str, list[str]] = {"additional_repos": repos + new_repos, "with_opts": opts + new_with}
        if new_without:
            changes["without_opts"] = without + new_without
        session.call(f"configure chroot {chroot} of {full}", client.project_chroot_proxy.edit,
                     owner, name, chroot, **changes)
        what = (["added NVIDIA CUDA repository"] if new_repos else []) + \
            [f"--with {b}" for b in new_with] + [f"--without {b}" for b in new_without]
        session.print(f"{chroot}: {' and '.join(what)}")
    return project


def build_url(copr_url: str, owner: str, name: str, build_id: int) -> str:
    path = f"g/{owner[1:]}" if owner.startswith("@") else owner
    return f"{copr_url}/coprs/{path}/{name}/build/{build_id}/"


def wait(session: Session, build_id: int, chroots: Iterable[str], interval: float, timeout: float, *, plain: bool,
         url: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    client = session.client
    deadline = time.monotonic() + timeout if timeout else None
    last: dict[str, str] = {}
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


def table(states: Mapping[str, str]) -> list[str]:
    return textout.table(("chroot", "state"), sorted(states.items()), rule=True)


@dataclass(frozen=True)
class ChrootSetup:
    """What a Copr chroot needs beyond the default for this submission."""
    repos: tuple[str, ...] = ()   # additional_repos (NVIDIA's)
    with_: tuple[str, ...] = ()   # with_opts: %bconds turned on (single layout)
    without: tuple[str, ...] = ()  # without_opts


@dataclass(frozen=True)
class Upload:
    package: str                  # source package name
    srpm: Path
    chroots: tuple[str, ...]


def _backends_on(cfg: Config, with_: Collection[str], without: Collection[str]) -> list[Backend]:
    """The backends a submission builds: packaging.yaml's `enabled` ones, --with added, --without removed."""
    return [b for b in cfg.backends if b.name in with_ or (b.enabled and b.name not in without)]


def plan_chroots(cfg: Config, chroots: Iterable[str], with_: Sequence[str], without: Sequence[str], layout: str,
                 cuda_release: int | None = None) -> tuple[dict[str, ChrootSetup], list[str]]:
    """({chroot: ChrootSetup}, [warnings]); UsageError before anything is sent."""
    on = _backends_on(cfg, with_, without)
    setup: dict[str, ChrootSetup] = {}
    warnings: list[str] = []
    for name in chroots:
        chroot = backends.parse_chroot(name, any_copr=True)
        nvidia = [b.name for b in on if backends.info(b.name).toolkit.nvidia_repo and chroot.arch in b.arches]
        repos: tuple[str, ...] = ()
        if nvidia:
            url, warning = cuda_repo(name, nvidia, cuda_release)
            repos = (url,)
            warnings += [warning] if warning else []
        options: tuple[tuple[str, ...], tuple[str, ...]] = ((tuple(with_), tuple(without)) if layout == "single"
                                                            else ((), ()))
        if repos or any(options):
            setup[name] = ChrootSetup(repos, *options)
    return setup, warnings


def _srpm_name(path: StrPath) -> str:
    return Path(path).name[:-len(".src.rpm")].rsplit("-", 2)[0]


def plan_uploads(cfg: Config, chroots: Sequence[str], with_: Collection[str], without: Collection[str],
                 layout: str | None, srpms: Mapping[str, StrPath]) -> list[Upload]:
    """The builds to create, main first. `srpms`: {package name: path}."""
    from ollama_rpm.specgen import context
    packages = context.packages(cfg, layout)
    on = {b.name for b in _backends_on(cfg, with_, without)}
    uploads: list[Upload] = []
    for package in packages:
        if package.main:
            wanted = list(chroots)
        elif package.backend in on:
            arches = cfg.backend(package.backend).arches
            wanted = [c for c in chroots if backends.parse_chroot(c, any_copr=True).arch in arches]
        else:
            continue
        if not wanted:
            continue
        if package.name not in srpms:
            raise UsageError(f"--srpm: none given for {package.name} (give one per source package, or none)")
        uploads.append(Upload(package.name, Path(srpms[package.name]), tuple(wanted)))
    return uploads


def _uploads(cfg: Config, chroots: Sequence[str], with_: Collection[str], without: Collection[str], layout: str,
             srpms: Sequence[Path]) -> list[Upload]:
    if layout == "single":
        return [Upload(cfg.name, srpms[0], tuple(chroots))]
    return plan_uploads(cfg, chroots, with_, without, layout, {_srpm_name(p): p for p in srpms})


@dataclass(frozen=True)
class SubmitRequest:
    """What `copr submit` was asked for (its flags)."""
    project: str                              # OWNER/NAME (@group/NAME)
    chroots: Sequence[str] = ()               # default: DEFAULT_CHROOTS
    with_: Sequence[str] = ()                 # backends turned on
    without: Sequence[str] = ()               # ... and off
    srpms: Sequence[StrPath] = ()             # default: build them with the srpm step
    wait: bool = True                         # wait for the builds to end
    create: bool = True                       # create the project if it does not exist
    copr_config: StrPath | None = None        # default: DEFAULT_CONFIG
    interval: float = 30.0                    # seconds between two polls
    timeout: float = 0.0                      # give up waiting after this long (0: never)
    api_timeout: float = 120.0                # longest wait for one API answer
    config_path: StrPath | None = None        # packaging.yaml (default: the project's)
    layout: str | None = None                 # default: packaging.yaml's
    cuda_release: int | None = None           # NVIDIA repository of this release, whatever the chroot's


@dataclass(frozen=True)
class _Submission:
    """A request checked against packaging.yaml, before Copr is asked anything."""
    owner: str
    name: str
    chroots: list[str]
    with_: tuple[str, ...]
    without: tuple[str, ...]
    layout: str
    setup: dict[str, ChrootSetup]
    warnings: list[str]
    uploads: list[Upload] | None              # None: the SRPMs are built after the project is ready
    cfg: Config


def submit(request: SubmitRequest, root: StrPath | None = None, out: TextIO | None = None,
           plain: bool | None = None) -> int:
    from ollama_rpm.project import find_root
    root = Path(root or find_root())
    job = _check(request, root)
    session = Session(request.copr_config or DEFAULT_CONFIG, api_timeout=request.api_timeout, out=out)
    if plain is None:
        plain = not hostenv.live_display(session.out)
    for warning in job.warnings:
        print(f"ollama-rpm: warning: {warning}", file=sys.stderr)
    ensure_project(session, job.owner, job.name, job.chroots, job.setup, create=request.create)
    uploads = job.uploads
    if uploads is None:
        srpms = _build_srpms(root, session, request.config_path, job.layout)
        uploads = _uploads(job.cfg, job.chroots, job.with_, job.without, job.layout, srpms)
    builds = _start_builds(session, job, uploads)
    if not request.wait:
        return EXIT_OK
    _wait_all(session, builds, request.interval, request.timeout, plain)
    return EXIT_OK


def _check(request: SubmitRequest, root: Path) -> _Submission:
    """Everything that can fail before Copr is asked: project, chroots, backends, SRPMs."""
    from ollama_rpm.project import CONFIG_NAME
    from ollama_rpm.specgen.config import load_config
    owner, name = parse_project(request.project)
    chroots = list(dict.fromkeys(request.chroots or DEFAULT_CHROOTS))
    for chroot in chroots:
        backends.parse_chroot(chroot, "--chroot", any_copr=True)
    cfg = load_config(request.config_path or root / CONFIG_NAME)
    layout = request.layout or cfg.layout
    with_, without = context.check_backend_options(cfg, request.with_, request.without)
    setup, warnings = plan_chroots(cfg, chroots, with_, without, layout, request.cuda_release)
    srpm_paths = [Path(p) for p in request.srpms]
    for srpm in srpm_paths:
        if not srpm.is_file() or not srpm.name.endswith(".src.rpm"):
            raise UsageError(f"--srpm {srpm}: not an existing .src.rpm file")
    if layout == "single" and len(srpm_paths) > 1:
        raise UsageError(f"--srpm {srpm_paths[1]}: the single layout uploads one SRPM")
    uploads = _uploads(cfg, chroots, with_, without, layout, srpm_paths) if srpm_paths else None
    return _Submission(owner, name, chroots, with_, without, layout, setup, warnings, uploads, cfg)


def _start_builds(session: Session, job: _Submission, uploads: Sequence[Upload]) -> list[tuple[Upload, int, str]]:
    """Upload every SRPM: the first build alone, the others as one batch after it. [(upload, build id, URL)]."""
    owner, name = job.owner, job.name
    builds: list[tuple[Upload, int, str]] = []
    for index, upload in enumerate(uploads):
        buildopts: dict[str, object] = {"chroots": list(upload.chroots)}
        if index == 1:
            buildopts["after_build_id"] = builds[0][1]     # the backends wait for ollama ...
        elif index > 1:
            buildopts["with_build_id"] = builds[1][1]      # ... and build side by side, one batch
        session.print(f"uploading {upload.srpm.name} to {owner}/{name} ({', '.join(upload.chroots)})")
        build = _expect(session.call(f"upload {upload.srpm.name} to {owner}/{name}",
                                     session.client.build_proxy.create_from_file,
                                     owner, name, str(upload.srpm), buildopts=buildopts),
                        f"upload {upload.srpm.name}", id=int)
        url = build_url(session.copr_url, owner, name, build["id"])
        named = f" ({upload.package})" if job.layout == "split" else ""
        session.print(f"build {build['id']}{named}: {url}")
        builds.append((upload, build["id"], url))
    return builds


def _wait_all(session: Session, builds: Sequence[tuple[Upload, int, str]], interval: float, timeout: float,
              plain: bool) -> None:
    """Wait for every build, print the chroot -> state table; BuildFailed names the first that failed."""
    failed: list[tuple[int, object, str]] = []
    rows: dict[str, str] = {}
    for upload, build_id, url in builds:
        final, states = wait(session, build_id, list(upload.chroots), interval, timeout, plain=plain, url=url)
        prefix = f"{upload.package} " if len(builds) > 1 else ""
        rows.update({f"{prefix}{chroot}": state for chroot, state in states.items()})
        session.print(f"build {build_id} {final.get('state')}: {url}")
        if final.get("state") != "succeeded" or any(s != "succeeded" for s in states.values()):
            failed.append((build_id, final.get("state"), url))
    for line in table(rows):
        session.print(line)
    if failed:
        build_id, state, url = failed[0]
        raise BuildFailed(f"Copr build {build_id} {state}; logs at {url}")


def _build_srpms(root: Path, session: Session, config_path: StrPath | None, layout: str | None) -> list[Path]:
    """Every SRPM of the layout, made by the srpm step (which loads $OLLAMA_RPM_MACROS itself)."""
    import tempfile

    from ollama_rpm.builders.srpm import build_srpms
    outdir = Path(tempfile.mkdtemp(prefix="ollama-rpm-copr-"))
    srpms = build_srpms(root, outdir, config_path=config_path, layout=layout)
    for srpm in srpms:
        if not srpm or not Path(srpm).is_file():
            raise ToolError("building the SRPM gave no file")
        session.print(f"built {Path(srpm).name}")
    return [Path(srpm) for srpm in srpms]
