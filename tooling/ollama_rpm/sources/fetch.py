"""Downloads into a content-addressed cache: streamed, retried, verified.

The cache holds `<root>/sha256/<hex>` files, each written under a temporary name
and renamed only once its content hashed to `<hex>` (and, when a pin is known,
matched it). A file under a final name is therefore always complete and verified.

Environment:
  OLLAMA_RPM_CACHE              cache root (default $XDG_CACHE_HOME/ollama-rpm, ~/.cache/ollama-rpm)
  OLLAMA_RPM_RETRIES            retries after the first attempt (default 4)
  OLLAMA_RPM_RETRY_BASE_DELAY   seconds before the first retry, doubled each time (default 1)
  OLLAMA_RPM_CONNECT_TIMEOUT    seconds (default 15)
  OLLAMA_RPM_READ_TIMEOUT       seconds without a byte before giving up (default 60)
  OLLAMA_RPM_DOWNLOAD_DEADLINE  seconds for one file, all attempts together (default 3600):
                                a server that trickles a byte now and then never hits
                                the read timeout
  OLLAMA_RPM_STALL_SECONDS      the stall rule's window (default 60; 0: no stall rule): an
                                attempt that receives less than OLLAMA_RPM_MIN_RATE bytes/s
                                averaged over that many seconds is stopped (and retried)
  OLLAMA_RPM_MIN_RATE           the stall rule's floor in bytes per second (default 1024)
"""

import contextlib
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

from ollama_rpm import hostenv, limits
from ollama_rpm.errors import IntegrityError, NetworkError, ToolError, UsageError
from ollama_rpm.pathtypes import StrPath

if TYPE_CHECKING:
    import requests

CHUNK = 1 << 16
RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def _env_count(name: str, default: int, most: int = 100) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12 and int(raw) <= most):
        raise UsageError(f"{name}={raw[:40]}: expected a whole number from 0 to {most}")
    return int(raw)


def _env_seconds(name: str, default: float, allow_zero: bool = False) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return limits.seconds(raw, name, allow_zero=allow_zero, env=True)


def sha256_file(path: StrPath) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Cache:
    """Content-addressed store: sha256 hex -> file."""

    def __init__(self, root: StrPath | None = None) -> None:
        self.root = Path(root) if root else hostenv.cache_root()
        self.dir = self.root / "sha256"

    def path(self, sha256: str) -> Path:
        return self.dir / sha256

    def lookup(self, sha256: str) -> Path | None:
        """The cached file with this hash, re-verified; None if absent (a corrupt one is dropped)."""
        path = self.path(sha256)
        if path.is_dir() and not path.is_symlink():
            raise self.error(path, "a directory where a cached file belongs")
        if not path.is_file():
            return None
        try:
            if sha256_file(path) != sha256:
                path.unlink()
                return None
        except OSError as error:
            raise self.error(path, error.strerror or str(error)) from None
        return path

    def judged(self, sha256: str, check: Callable[[], None]) -> None:
        """Run `check` (which raises on a bad file) once per content: a pass is
        remembered under `<root>/checked/<sha256>`, as the content cannot change."""
        mark = self.root / "checked" / sha256
        if mark.is_file():
            return
        check()
        with contextlib.suppress(OSError):      # only a cache of the verdict
            mark.parent.mkdir(parents=True, exist_ok=True)
            mark.touch()

    def error(self, path: Path, reason: str) -> ToolError:
        """The cache is the OS's or the user's setting, never a download fault (exit 3)."""
        return ToolError(f"download cache {path}: {reason}{hostenv.cache_hint()}")

    @contextlib.contextmanager
    def writer(self, label: str) -> Iterator["_HashingFile"]:
        """Yield an open binary file; `commit(expected)` on it files it under its hash.

        Whatever happens, no temporary file is left behind.
        """
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{label}.", suffix=".part", dir=self.dir)
        except OSError as error:
            raise self.error(self.dir, f"cannot write: {error.strerror or error}") from None
        handle = _HashingFile(os.fdopen(fd, "wb"), Path(tmp), self)
        try:
            yield handle
        finally:
            handle.close()
            if handle.tmp.exists():
                handle.tmp.unlink()

    def add(self, source_path: StrPath) -> tuple[Path, str]:
        """Copy a local file into the cache; returns (path, sha256)."""
        with self.writer(Path(source_path).name) as out, open(source_path, "rb") as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                out.write(block)
            return out.commit(None), out.sha256


class _HashingFile:
    def __init__(self, handle: IO[bytes], tmp: Path, cache: Cache) -> None:
        self.handle, self.tmp, self.cache = handle, tmp, cache
        self.digest = hashlib.sha256()
        self.size = 0
        self.sha256 = ""           # set by commit()

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def reset(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.digest = hashlib.sha256()
        self.size = 0

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.close()

    def commit(self, expected: str | None, what: str = "") -> Path:
        """Rename into the cache under the content's hash; IntegrityError if it is not `expected`."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.close()
        self.sha256 = self.digest.hexdigest()
        if expected and self.sha256 != expected:
            raise IntegrityError(f"{what or self.tmp.name}: sha256 mismatch: expected {expected} "
                                 f"(sources.lock), got {self.sha256}")
        os.chmod(self.tmp, 0o644)
        final = self.cache.path(self.sha256)
        try:
            os.replace(self.tmp, final)
        except OSError as error:
            raise self.cache.error(final, f"cannot store: {error.strerror or error}") from None
        return final


class Progress:
    """A one-line progress display on a terminal; silent where hostenv.live_display says no
    (CI, TERM=dumb, stderr not a TTY)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = hostenv.live_display(self.stream)
        self.label = label
        self.last = 0.0
        self.shown = False

    def update(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and (not total or done < total):
            return
        self.last = now
        mib = done / (1 << 20)
        if total:
            width = 30
            filled = int(width * done / total)
            text = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {mib:.1f}/{total / (1 << 20):.1f} MiB"
        else:
            text = f"{self.label} {mib:.1f} MiB"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


class _Retry(Exception):
    """A failure worth another attempt (5xx, reset, timeout, truncated body, a stall)."""


class Stall:
    """The stall rule: fewer than `rate` bytes/s over the last `window` seconds of an
    attempt. A server that drips a byte now and then never lets the read timeout
    fire; this stops it long before the overall deadline."""

    def __init__(self, window: float, rate: int) -> None:
        self.window, self.rate = window, rate
        self.samples: list[tuple[float, int]] = []

    def start(self) -> None:
        self.samples = [(time.monotonic(), 0)]

    def stalled(self, size: int) -> bool:
        """Record `size` bytes so far; True once the last window brought too few."""
        if not self.window:
            return False
        now = time.monotonic()
        self.samples.append((now, size))
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.window:
            self.samples.pop(0)
        start, before = self.samples[0]
        return now - start >= self.window and size - before < self.rate * self.window

    def message(self, size: int) -> str:
        return (f"stalled: under {self.rate} bytes/s for {self.window:g} s ({size} bytes so far; "
                "OLLAMA_RPM_STALL_SECONDS, OLLAMA_RPM_MIN_RATE)")


def download(url: str, cache: Cache, name: str, expected: str | None = None,
             timeout: float | tuple[float, float] | None = None) -> tuple[Path, str]:
    """Fetch `url` into `cache`; returns (cache path, sha256).

    `expected` (sha256 hex) is checked before the file gets a final name.
    `timeout` (seconds) overrides the connect/read timeouts from the environment.
    NetworkError for HTTP errors and exhausted retries, IntegrityError for a mismatch.
    """
    what = f"{name} ({url})"
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "file":
        return _copy_local(url, cache, name, expected, what)
    if scheme not in ("http", "https"):
        raise UsageError(f"{what}: unsupported URL scheme {scheme!r}; expected https://, http:// or file://")
    import requests  # imported here: commands that never download do not pay for it

    retries = _env_count("OLLAMA_RPM_RETRIES", 4)
    base_delay = _env_seconds("OLLAMA_RPM_RETRY_BASE_DELAY", 1.0, allow_zero=True)
    if timeout is None:
        timeout = (_env_seconds("OLLAMA_RPM_CONNECT_TIMEOUT", 15.0), _env_seconds("OLLAMA_RPM_READ_TIMEOUT", 60.0))
    overall = _env_seconds("OLLAMA_RPM_DOWNLOAD_DEADLINE", 3600.0)
    stall = Stall(_env_seconds("OLLAMA_RPM_STALL_SECONDS", 60.0, allow_zero=True),
                  _env_count("OLLAMA_RPM_MIN_RATE", 1024, most=1 << 30))
    deadline = time.monotonic() + overall
    with requests.Session() as session, cache.writer(name) as out:
        last: _Retry | None = None
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(min(base_delay * 2 ** (attempt - 1), max(0.0, deadline - time.monotonic())))
                out.reset()
            try:
                _attempt(session, url, out, timeout, name, _Bounds(deadline, overall, stall))
                break
            except _Retry as error:
                last = error
        else:
            raise NetworkError(f"{what}: {last} (gave up after {retries + 1} attempts)")
        return out.commit(expected, what), out.sha256


@dataclass
class _Bounds:
    """When an attempt must stop: the overall deadline (a time.monotonic() value, and
    its length in seconds, for the message) and the stall rule."""
    deadline: float = float("inf")
    overall: float = 0.0
    stall: Stall = field(default_factory=lambda: Stall(0, 0))


def _attempt(session: "requests.Session", url: str, out: _HashingFile, timeout: float | tuple[float, float],
             name: str, bounds: _Bounds | None = None) -> None:
    bounds = bounds or _Bounds()
    with _request(session, url, timeout, name) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        cut = _stream(response, out, name, total, bounds)
        if total is not None and out.size == total:
            return                           # complete, whatever the watchdog saw as it woke
        if cut and time.monotonic() > bounds.deadline:
            raise NetworkError(f"{name} ({url}): not complete after {bounds.overall:g} s "
                               f"({out.size} bytes so far; OLLAMA_RPM_DOWNLOAD_DEADLINE)")
        if cut:
            raise _Retry(bounds.stall.message(out.size))
        if total is not None and out.size != total:
            raise _Retry(f"truncated body: got {out.size} of {total} bytes")


def _request(session: "requests.Session", url: str, timeout: float | tuple[float, float],
             name: str) -> "requests.Response":
    """The streaming response, once its status says a body follows."""
    import requests

    try:
        response = session.get(url, stream=True, timeout=timeout, allow_redirects=True,
                               headers={"Accept-Encoding": "identity"})
    except (requests.ConnectionError, requests.Timeout) as error:
        raise _Retry(f"connection failed: {_short(error)}") from None
    except requests.RequestException as error:
        raise NetworkError(f"{name} ({url}): request failed: {_short(error)}") from None
    status = response.status_code
    if status in RETRY_STATUS or status >= 400:
        response.close()
        if status in RETRY_STATUS:
            raise _Retry(f"HTTP {status} {response.reason}")
        raise NetworkError(f"{name} ({url}): HTTP {status} {response.reason}")
    return response


def _stream(response: "requests.Response", out: _HashingFile, name: str, total: int | None,
            bounds: _Bounds) -> bool:
    """Copy the body into `out`; True when the watchdog cut it short. A read blocks
    until its chunk is full: at the deadline, or when the stall rule says so, the
    watchdog cuts the connection, since a trickling server never lets the read
    timeout fire."""
    import requests
    import urllib3

    progress = Progress(name)
    stall = bounds.stall
    stall.start()
    stopped, cut = threading.Event(), threading.Event()

    def watch() -> None:
        while not stopped.wait(min(1.0, stall.window / 10 or 1.0)):
            if time.monotonic() > bounds.deadline or stall.stalled(out.size):
                cut.set()
                _cut(response)
                return

    watchdog = threading.Thread(target=watch, daemon=True)
    watchdog.start()
    try:
        for block in response.raw.stream(CHUNK, decode_content=False):
            out.write(block)
            progress.update(out.size, total)
            if cut.is_set():
                break
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
        if not cut.is_set():
            raise _Retry(f"connection broken after {out.size} bytes: {_short(error)}") from None
    finally:
        stopped.set()
        watchdog.join()
        progress.done()
    return cut.is_set()


def _cut(response: "requests.Response") -> None:
    """Shut the socket under a streaming response down, waking a blocked read."""
    raw = response.raw
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    with contextlib.suppress(OSError, AttributeError):
        sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]  # None: AttributeError, suppressed


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__


def _copy_local(url: str, cache: Cache, name: str, expected: str | None, what: str) -> tuple[Path, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"{what}: file:// URLs must name a local path (file:///path)")
    path = urllib.request.url2pathname(parts.path)
    try:
        with cache.writer(name) as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out, CHUNK)
            return out.commit(expected, what), out.sha256
    except OSError as error:
        raise NetworkError(f"{what}: cannot read: {error.strerror or error}") from None
