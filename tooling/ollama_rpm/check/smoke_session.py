"""The part of `ollama-rpm smoke` that runs where the packages are installed.

Standard library only: it runs with the host's Python inside a private mount
namespace (rootfs engine) or with the chroot's python3 under `mock --chroot`.
It reads a JSON plan, then:

1. (rootfs) binds the scratch root's files over their real paths, so the
   binary sees /usr/bin/ollama and /usr/lib64/ollama as an installed package;
2. starts `ollama serve` as the unit does (its HOME, OLLAMA_MODELS and working
   directory, UMask 0027, 127.0.0.1 and a free port, the service account when
   asked), with LD_DEBUG=files so the dynamic loader records which ggml
   libraries each process (llama-server included) loaded;
3. waits for /api/version, runs `ollama create` on a Modelfile naming the
   tiny GGUF, and asks /api/generate for a few tokens;
4. tries to load each installed GPU backend library (in a child process, with
   the library path Ollama gives llama-server), and runs `ldd -r` on every ELF
   file the packages ship (the same library path for files under the library
   directory) to find unresolved libraries and symbols;
5. stops the server (SIGTERM to its process group, SIGKILL after a timeout)
   and writes the observations to the plan's result file.

Every step is bounded in time. The judging is done by ollama_rpm.check.smoke.
"""

# EPEL 9's python3 is 3.9: annotations stay unevaluated strings there.
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MS_BIND = 0x1000
MS_REC = 0x4000
MODEL_NAME = "smoke-tiny"
PROMPT = "Why is the sky blue?"
_LIBC = ctypes.CDLL(None, use_errno=True)


# ---- mounts (rootfs engine) --------------------------------------------------

def _enc(value: object) -> bytes | None:
    return None if value is None else str(value).encode()


def _mount(source: str | Path, target: str | Path, fstype: str | None = None, flags: int = 0,
           data: str | None = None) -> None:
    if _LIBC.mount(_enc(source), _enc(target), _enc(fstype), ctypes.c_ulong(flags), _enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _overlay_dir(directory: Path, keep: Path) -> None:
    """Make `directory` writable in this namespace with its entries unchanged.

    A tmpfs goes over it and every original entry is bound back (symlinks are
    recreated), so a missing path (/usr/lib64/ollama on a host without Ollama)
    can be created under it without touching the host. No process may start
    between the tmpfs mount and the last bind: the dynamic loader itself may
    live in `directory` (/usr/lib64 on Debian holds only ld-linux).
    """
    keep.mkdir(parents=True, exist_ok=True)
    _mount(directory, keep, flags=MS_BIND | MS_REC)
    mode = directory.stat().st_mode & 0o7777
    _mount("tmpfs", directory, "tmpfs", 0, f"mode={mode:o}")
    for entry in sorted(os.listdir(keep)):
        src, dst = keep / entry, directory / entry
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
            continue
        if src.is_dir():
            dst.mkdir()
        else:
            dst.touch()
        _mount(src, dst, flags=MS_BIND | MS_REC)


def bind_into_place(source: str | Path, target: str | Path, scratch: Path) -> None:
    """Bind `source` (file or directory) at `target`, creating the target as needed."""
    source, target = Path(source), Path(target)
    if not os.path.lexists(target):
        parent = target.parent
        if parent == Path("/"):
            raise OSError(f"refusing to overlay / for {target}")
        if not parent.is_dir():
            bind_into_place_dir(parent, scratch)
        else:
            _overlay_dir(parent, scratch / ("keep" + str(parent).replace("/", "_")))
        if source.is_dir():
            target.mkdir()
        else:
            target.touch()
    _mount(source, target, flags=MS_BIND | MS_REC)


def bind_into_place_dir(directory: Path, scratch: Path) -> None:
    """Create an empty directory at `directory` (its ancestors overlaid as needed)."""
    empty = scratch / ("empty" + str(directory).replace("/", "_"))
    empty.mkdir(parents=True, exist_ok=True)
    bind_into_place(empty, directory, scratch)


# ---- server ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    _LIBC.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG: no server outlives the driver
    os.umask(0o027)                  # the unit's UMask=


class Session:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.work = Path(plan["workdir"])
        self.errors: list[str] = []
        self.result: dict[str, Any] = {"errors": self.errors, "user": None}
        self.server: subprocess.Popen[bytes] | None = None
        self.account: pwd.struct_passwd | None = None
        self.log_path: Path | None = None
        if plan.get("user"):
            try:
                self.account = pwd.getpwnam(plan["user"])
            except KeyError:
                self.errors.append(f"user {plan['user']!r} does not exist (sysusers did not run?)")
        self.result["user"] = self.account.pw_name if self.account else pwd.getpwuid(os.getuid()).pw_name
        self.home = self.work / "home"
        self.trace = self.work / "ld-trace"
        self.port = int(plan.get("port") or free_port())
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin", "LANG": "C.UTF-8",
            "HOME": str(self.home), "OLLAMA_MODELS": str(self.home / "models"),
            "OLLAMA_HOST": f"127.0.0.1:{self.port}", "OLLAMA_NO_CLOUD": "1",
            "LD_DEBUG": "files", "LD_DEBUG_OUTPUT": str(self.trace / "ld"),
        }
        self.env.update(plan.get("env") or {})

    def _owned_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.account:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _spawn_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"env": self.env, "cwd": str(self.home), "preexec_fn": _die_with_parent}
        if self.account:
            kwargs.update(user=self.account.pw_uid, group=self.account.pw_gid,
                          extra_groups=[g for g in os.getgrouplist(self.account.pw_name, self.account.pw_gid)])
        return kwargs

    def start(self) -> bool:
        for path in (self.work, self.home, self.trace):
            self._owned_dir(path)
        self.log_path = self.work / "server.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - the server writes to it until stop() closes it
        try:
            server = self.server = subprocess.Popen([self.plan["ollama"], "serve"], stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True, **self._spawn_kwargs())
        except OSError as error:
            self.errors.append(f"cannot start {self.plan['ollama']} serve: {error}")
            return False
        finally:
            log.close()
        # The driver's last resort, should this session be killed before stop() runs.
        (self.work / SERVER_PID).write_text(str(server.pid))
        deadline = time.monotonic() + float(self.plan.get("startup_timeout", 60))
        started = time.monotonic()
        while time.monotonic() < deadline:
            if server.poll() is not None:
                self.errors.append(f"ollama serve exited with {server.returncode} "
                                             f"before answering /api/version")
                return False
            try:
                body = self._request("GET", "/api/version", timeout=2)
                self.result["version"] = body.get("version")
                self.result["startup_seconds"] = round(time.monotonic() - started, 2)
                self.result["address"] = f"127.0.0.1:{self.port}"
                return True
            except (OSError, ValueError):
                time.sleep(0.2)
        self.errors.append(f"ollama serve did not answer /api/version on 127.0.0.1:{self.port} "
                                     f"within {self.plan.get('startup_timeout', 60)}s")
        return False

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None, timeout: float = 10) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode() or "{}")

    def create(self) -> bool:
        model_dir = self.work / "model"
        self._owned_dir(model_dir)
        modelfile = model_dir / "Modelfile"
        modelfile.write_text(f"FROM {self.plan['model']}\n")
        try:
            proc = subprocess.run([self.plan["ollama"], "create", MODEL_NAME, "-f", str(modelfile)],
                                  capture_output=True, text=True, timeout=float(self.plan.get("create_timeout", 120)),
                                  **self._spawn_kwargs())
        except subprocess.TimeoutExpired:
            self.errors.append(f"ollama create did not finish within {self.plan.get('create_timeout', 120)}s")
            return False
        output = _tail(_ANSI.sub("", proc.stdout + "\n" + proc.stderr), 5)
        self.result["create"] = {"exit": proc.returncode, "output": output}
        if proc.returncode != 0:
            self.errors.append(f"ollama create failed ({proc.returncode}): "
                                         f"{output[-1] if output else '(no output)'}")
            return False
        return True

    def generate(self) -> bool:
        payload: dict[str, Any] = {"model": MODEL_NAME, "prompt": PROMPT, "raw": True, "stream": False,
                   "options": {"num_predict": int(self.plan.get("num_predict", 8)), "temperature": 0, "seed": 1}}
        timeout = float(self.plan.get("generate_timeout", 120))
        try:
            body = self._request("POST", "/api/generate", payload, timeout=timeout)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace").strip()
            self.errors.append(f"/api/generate answered {error.code}: {detail}")
            return False
        except (OSError, ValueError) as error:
            self.errors.append(f"/api/generate failed: {error}")
            return False
        self.result["generate"] = {k: body.get(k) for k in ("response", "eval_count", "done", "done_reason")}
        return True

    def probe_gpu_libs(self) -> None:
        """dlopen each GPU backend library in a child, as llama-server would find it."""
        probes: dict[str, dict[str, Any]] = {}
        libdir = self.plan["libdir"]
        code = "import ctypes, os, sys; ctypes.CDLL(sys.argv[1], mode=os.RTLD_NOW | os.RTLD_GLOBAL)"
        for lib in self.plan.get("gpu_libs", []):
            env = dict(self.env, LD_LIBRARY_PATH=f"{libdir}:{os.path.dirname(lib)}")
            env.pop("LD_DEBUG", None)
            try:
                proc = subprocess.run([sys.executable, "-c", code, lib], capture_output=True, text=True,
                                      timeout=60, **dict(self._spawn_kwargs(), env=env))
                error = _tail(proc.stderr, 1)
                probes[lib] = {"ok": proc.returncode == 0,
                               "error": "" if proc.returncode == 0 else (error[-1] if error else f"exit {proc.returncode}")}
            except subprocess.TimeoutExpired:
                probes[lib] = {"ok": False, "error": "loading did not finish within 60s"}
        self.result["gpu_probes"] = probes

    def stop(self) -> None:
        server = self.server
        if server is None:
            return
        timeout = float(self.plan.get("stop_timeout", 15))
        if server.poll() is None:
            _signal_group(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout)
                self.result["stopped"] = "SIGTERM"
            except subprocess.TimeoutExpired:
                self.result["stopped"] = f"SIGKILL after {timeout}s"
        _signal_group(server.pid, signal.SIGKILL)      # llama-server children too
        server.wait()

    def collect(self) -> None:
        log = self.log_path.read_text(errors="replace") if self.log_path else ""
        self.result["server_log_tail"] = _tail(log, 30)
        # ggml's lines, raw or quoted inside Ollama's own log lines: stop the path at ".so".
        self.result["server_log_backends"] = re.findall(r"loaded (\S+) backend from (/\S+?\.so)\b", log)
        self.result["server_log_load_errors"] = re.findall(r"failed to load (/\S+?\.so)\S*: (.*)", log)
        # The MLX runner is not packaged: the server must not complain about it (Ollama's level=WARN/ERROR lines).
        self.result["server_log_mlx"] = [line for line in log.splitlines()
                                         if re.search(r"level=(WARN|ERROR)", line) and re.search(r"mlx", line, re.I)]
        traces: dict[str, list[list[str]]] = {}
        for path in sorted(self.trace.glob("ld.*")):
            events = [["load" if what.startswith("dynamically") else "unload", lib] for lib, what in
                      _LD_EVENT.findall(path.read_text(errors="replace"))]
            if events:
                traces[path.suffix.lstrip(".")] = events
        self.result["ld_traces"] = traces



# ---- shared-library resolution -----------------------------------------------

# ldd's lines: "\tlibfoo.so.1 => /usr/lib64/libfoo.so.1 (0x...)", "\tlibbar.so.2 => not found",
# and with -r "undefined symbol: name\t(/path/of/the/file)".
_LDD_LIB = re.compile(r"^\s*(\S+)\s+=>\s+(not found|\S+)", re.M)
_LDD_UNDEFINED = re.compile(r"undefined symbol: (\S+?),?\s")
# "/path: /lib64/libc.so.6: version `GLIBC_2.43' not found (required by /path)"
_LDD_VERSION = re.compile(r"(\S+?): version `([^']+)' not found")


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def library_path_for(path: str, libdir: str) -> str | None:
    """LD_LIBRARY_PATH as Ollama gives llama-server: its directory, then the backend's own."""
    if not path.startswith(libdir.rstrip("/") + "/"):
        return None
    here = os.path.dirname(path)
    return libdir if here == libdir.rstrip("/") else f"{libdir}:{here}"


def resolve_elf(path: str, libdir: str, shipped: set[str], timeout: float = 60) -> dict[str, Any]:
    """What `ldd -r` says of one file: each NEEDED library and where it resolved, undefined symbols."""
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C"}
    library_path = library_path_for(path, libdir)
    if library_path:
        env["LD_LIBRARY_PATH"] = library_path
    try:
        proc = subprocess.run(["ldd", "-r", path], capture_output=True, text=True, timeout=timeout, env=env)
    except FileNotFoundError:
        return {"error": "ldd not found where the packages are installed"}
    except subprocess.TimeoutExpired:
        return {"error": f"ldd -r did not finish within {timeout:g}s"}
    text = proc.stdout + "\n" + proc.stderr
    if "not a dynamic executable" in text:      # a static executable ("statically linked": no NEEDED, read on)
        return {"static": True, "system": {}, "private": {}, "missing": [], "undefined": []}
    system: dict[str, str] = {}
    private: dict[str, str] = {}
    missing: list[str] = []
    for name, target in _LDD_LIB.findall(proc.stdout):
        if target == "not found":
            missing.append(name)
        elif os.path.realpath(target) in shipped:
            private[name] = target
        else:
            system[name] = target
    missing += [f"{os.path.basename(lib)} ({version})" for lib, version in _LDD_VERSION.findall(text)]
    result: dict[str, Any] = {"system": system, "private": private, "missing": sorted(set(missing)),
                              "undefined": sorted(set(_LDD_UNDEFINED.findall(text + "\n")))}
    if proc.returncode != 0 and not (missing or result["undefined"]):
        result["error"] = f"ldd -r exited {proc.returncode}: {(_tail(text, 1) or ['(no output)'])[-1]}"
    return result


def resolve_shipped_elves(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`ldd -r` on every ELF file among the packages' files ([package path, path here] pairs)."""
    pairs = [(shown, here) for shown, here in plan.get("files", []) if not os.path.isdir(here)]
    shipped = {os.path.realpath(here) for _shown, here in pairs}
    seen: set[str] = set()
    results: dict[str, dict[str, Any]] = {}
    for shown, here in sorted(pairs):
        real = os.path.realpath(here)
        if real in seen or os.path.islink(here) or not is_elf(here):
            continue
        seen.add(real)
        results[shown] = resolve_elf(here, plan["libdir"], shipped)
    return results

# The CLI's progress display (cursor moves, erase-line) around its messages.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# LD_DEBUG=files: "file=<path> [0];  dynamically loaded by ..." on dlopen,
# "file=<path> [0];  destroying link map" when dlclose unloads it.
_LD_EVENT = re.compile(r"file=(\S+/libggml-[\w.-]+\.so)\s+\[\d+\];\s+(dynamically loaded by|destroying link map)")


# In the work directory: the server's process group, for the driver (smoke.py).
SERVER_PID = "server.pid"


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _tail(text: str, lines: int) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-lines:]


def run(plan: dict[str, Any]) -> dict[str, Any]:
    session = Session(plan)
    try:
        for source, target in plan.get("binds", []):
            bind_into_place(source, target, session.work / "mnt")
        if plan.get("files"):
            session.result["elf"] = resolve_shipped_elves(plan)
        if not session.errors and session.start():
            session.result["steps"] = ["server"]
            if session.create():
                session.result["steps"].append("create")
                if session.generate():
                    session.result["steps"].append("generate")
        if not session.errors or session.server is not None:
            session.probe_gpu_libs()
    except OSError as error:
        session.errors.append(f"smoke driver: {error}")
    finally:
        session.stop()
        session.collect()
    return session.result


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGINT/SIGTERM/SIGHUP: unwind through run()'s `finally`, which stops the server
    group; the mount namespace goes with the last process in it."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    plan = json.loads(Path(argv[1]).read_text())
    try:
        result = run(plan)
    except KeyboardInterrupt:
        return 130
    out = Path(plan["result"])
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
