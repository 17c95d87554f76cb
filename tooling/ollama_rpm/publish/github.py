"""The parts of GitHub's REST API that `bump` uses, with ETag caching.

Base URL from $OLLAMA_RPM_GITHUB_API (default https://api.github.com). An
optional $GITHUB_TOKEN is sent as a header and never printed or cached.
Answers are cached by URL in the user cache dir with their ETag, so asking
again for an unchanged release is a 304 that does not count against the
rate limit.
"""

import contextlib
import datetime
import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ollama_rpm import __version__, atomic, hostenv
from ollama_rpm.errors import ConfigError, NetworkError, UsageError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.textout import redact

if TYPE_CHECKING:
    import requests

API_ENV = "OLLAMA_RPM_GITHUB_API"
DEFAULT_API = "https://api.github.com"


def cache_dir() -> Path:
    """The ETag cache, under the cache root every other cache uses (OLLAMA_RPM_CACHE too)."""
    return hostenv.cache_root() / "github"


class GitHub:
    def __init__(self, base: str | None = None, token: str | None = None, timeout: float = 60.0,
                 cache: StrPath | None = None) -> None:
        import requests  # here, not at the top: `--help` and commands that never ask GitHub do not load it

        self.base = (base or os.environ.get(API_ENV) or DEFAULT_API).rstrip("/")
        self.token = token if token is not None else os.environ.get("GITHUB_TOKEN", "")
        self.timeout = timeout
        self.cache = Path(cache) if cache else cache_dir()
        self.not_modified = 0        # how many answers were 304 (served from the cache)
        self.session = requests.Session()

    def _cache_file(self, url: str) -> Path:
        return self.cache / (hashlib.sha256(url.encode()).hexdigest() + ".json")

    def get_json(self, path: str) -> Any:
        import requests
        url = f"{self.base}{path}"
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                   "User-Agent": f"ollama-rpm/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        cache_file = self._cache_file(url)
        cached = _read_cache(cache_file, url)
        if cached:
            headers["If-None-Match"] = cached["etag"]
        try:
            response = self.session.get(url, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise NetworkError(f"GitHub API: no answer from {self.base} within {self.timeout:g} s ({path})") from None
        except requests.RequestException as error:
            raise NetworkError(redact(f"GitHub API: cannot reach {self.base}: {type(error).__name__}",
                                      [self.token])) from None
        status = response.status_code
        if status == 304 and cached and "body" in cached:
            self.not_modified += 1
            return cached["body"]
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                raise NetworkError(f"GitHub API: {path} answered HTTP 200 with something that is not JSON") from None
            etag = response.headers.get("ETag")
            if etag:
                with contextlib.suppress(OSError):      # a cache we cannot write is not an error
                    atomic.write_text(cache_file, json.dumps({"url": url, "etag": etag, "body": body}))
            return body
        message = _message(response)
        if status == 401:
            raise ConfigError("GITHUB_TOKEN", None,
                              f"GitHub rejected the token (HTTP 401{': ' + message if message else ''}); "
                              "create a new one or unset GITHUB_TOKEN")
        if status in (403, 429) and (status == 429 or response.headers.get("X-RateLimit-Remaining") == "0"
                                     or "Retry-After" in response.headers or "rate limit" in message.lower()):
            raise NetworkError(_rate_limit_text(response, bool(self.token)))
        if status == 404:
            raise UsageError(f"GitHub API: {path} not found (HTTP 404)")
        raise NetworkError(redact(f"GitHub API: HTTP {status} for {path}{': ' + message if message else ''}",
                                  [self.token]))

    def release(self, repo: str, tag: str | None = None) -> dict[str, Any]:
        path = f"/repos/{repo}/releases/tags/{tag}" if tag else f"/repos/{repo}/releases/latest"
        try:
            body = self.get_json(path)
        except UsageError:
            what = f"release {tag}" if tag else "latest release"
            raise UsageError(f"GitHub has no {what} of {repo}") from None
        if not isinstance(body, dict) or not isinstance(body.get("tag_name"), str):
            raise NetworkError(f"GitHub API: {path} has no tag_name")
        return body


def _read_cache(cache_file: Path, url: str) -> Any:
    """The cached answer for `url` ({url, etag, body}), or None when there is none usable."""
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        return cached if cached.get("url") == url and cached.get("etag") else None
    except (OSError, ValueError, AttributeError):
        return None


def _message(response: "requests.Response") -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    # Empty, multi-line or huge messages all come out as one bounded line (or nothing).
    return " ".join(str(body.get("message") or "").split())[:200]


def _rate_limit_text(response: "requests.Response", authenticated: bool) -> str:
    headers = response.headers
    reset = headers.get("X-RateLimit-Reset")
    when = ""
    # ASCII digits, and a reset within a day: anything else is not GitHub's to believe.
    now = time.time()
    if reset and reset.isascii() and reset.isdigit() and 0 <= int(reset) - now <= 86400:
        at = datetime.datetime.fromtimestamp(int(reset), datetime.UTC)
        minutes = max(0, round((int(reset) - now) / 60))
        when = f"; it resets at {at:%Y-%m-%d %H:%M:%S} UTC (in {minutes} min)"
    elif headers.get("Retry-After", "").isascii() and headers.get("Retry-After", "").isdigit() \
            and len(headers["Retry-After"]) <= 6:
        when = f"; retry after {headers['Retry-After']} s"
    hint = "" if authenticated else "; set GITHUB_TOKEN for a higher limit"
    return f"GitHub API rate limit exceeded (HTTP {response.status_code}){when}{hint}"
