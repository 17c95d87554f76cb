"""Local HTTP servers speaking the parts of Copr's API v3 and GitHub's REST API
the toolkit uses, plus a plain file server (FileServer). The real clients
(copr.v3, requests) talk to them over 127.0.0.1; faults are injected per path.
One server class for all of them, so API and download faults work the same way."""

import base64
import email.parser
import email.policy
import json
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True


# File faults, one per request in order (the last one repeats): "ok", "500", "404",
# "truncate" (Content-Length larger than the body, then close), "reset" (TCP RST before
# any response), "wrong" (a different body of the same length), "trickle" (the body one
# byte every 0.1 s: never a read timeout, never done).
FILE_FAULTS = ("ok", "500", "404", "truncate", "reset", "wrong", "trickle")


class FakeServer:
    """Base: a real HTTP server on 127.0.0.1 (`url`), routing by (method, path).

    API faults: `fault(path_prefix, fault, ...)` queues answers consumed in order, each
    (status, json_body[, headers]) or "hang" (no answer until the server stops).
    Files: `add(path, data, faults)` serves bytes at `file_url(path)` (below
    `file_prefix`), with the FILE_FAULTS above; `data` may be a list of bodies served
    in turn (the last one repeats). `hits[path]` counts the requests for each file.
    Use it as a context manager, or start() / stop().
    """

    file_prefix = ""

    def __init__(self):
        self.requests = []          # (method, path, headers) of every request
        self.faults = {}
        self.files = {}             # path -> bytes, or a list of bytes served in turn
        self.file_faults = {}       # path -> [file fault, ...]
        self.hits = Counter()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                owner.requests.append((self.command, url.path, dict(self.headers)))
                for prefix, queue in owner.faults.items():
                    if url.path.startswith(prefix) and queue:
                        fault = queue.pop(0)
                        if fault == "hang":
                            owner.stop_event.wait(30)
                            return
                        status, payload, *headers = fault
                        return self.send(status, payload, headers[0] if headers else {})
                if self.command in ("GET", "HEAD") and url.path.startswith(owner.file_prefix):
                    served = owner._next_file(url.path[len(owner.file_prefix):])
                    if served is not None:
                        return self.send_file(*served)
                status, payload, headers = owner.route(self.command, url.path, parse_qs(url.query),
                                                       self.headers, body)
                self.send(status, payload, headers)

            def send(self, status, payload, headers=None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                headers = dict(headers or {})
                headers.setdefault("Content-Type", "application/json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def send_file(self, data, fault):
                self.close_connection = True
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                if fault in ("500", "404"):
                    self.send(int(fault), f"error {fault}\n".encode(),
                              {"Content-Type": "text/plain", "Connection": "close"})
                    return
                if fault == "wrong":
                    data = bytes(b ^ 0xFF for b in data)
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(data) + (4096 if fault == "truncate" else 0)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command == "HEAD":
                    return
                if fault == "trickle":
                    for index in range(len(data)):
                        try:
                            self.wfile.write(data[index:index + 1])
                            self.wfile.flush()
                        except OSError:
                            break
                        time.sleep(0.1)
                else:
                    self.wfile.write(data if fault != "truncate" else data[: len(data) // 2])
                self.wfile.flush()

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()

    def start(self):
        return self.__enter__()

    def stop(self):
        self.__exit__(None, None, None)

    def route(self, method, path, query, headers, body):
        return 404, {"error": "not found"}, {}

    def fault(self, prefix, *faults):
        self.faults.setdefault(prefix, []).extend(faults)

    # --- files ---

    def add(self, path, data, faults=("ok",)):
        unknown = set(faults) - set(FILE_FAULTS)
        assert not unknown, f"unknown file faults {unknown}"
        with self.lock:
            self.files[path] = bytes(data) if not isinstance(data, list) else list(data)
            self.file_faults[path] = list(faults)

    def file_url(self, path):
        return f"{self.url}{self.file_prefix}{path}"

    @property
    def total_hits(self):
        return sum(self.hits.values())

    def _next_file(self, path):
        """(body, fault) for the next request of `path`, or None if it is not served."""
        with self.lock:
            content = self.files.get(path)
            if content is None:
                return None
            self.hits[path] += 1
            if isinstance(content, list):
                content = content.pop(0) if len(content) > 1 else content[0]
            faults = self.file_faults.setdefault(path, ["ok"])
            fault = faults.pop(0) if len(faults) > 1 else faults[0]
        return content, fault


class FileServer(FakeServer):
    """A plain file server (download tests): `add()` files, point Sources at `file_url()`."""


# --- Copr -----------------------------------------------------------------------

class FakeCopr(FakeServer):
    def __init__(self, login="api-login", token="tok-SECRET-1234567890", owners=("alice", "@ml")):
        super().__init__()
        self.login, self.token = login, token
        self.owners = set(owners)
        self.projects = {}            # (owner, name) -> dict
        self.chroots = {}             # (owner, name, chroot) -> {"additional_repos": [], "with_opts": []}
        self.builds = {}
        self.uploads = []             # (file name, bytes, json data)
        self.final_state = "succeeded"
        self.polls_to_finish = 2

    def add_project(self, owner, name, chroots):
        self.projects[(owner, name)] = {"additional_repos": []}
        for chroot in chroots:
            self.chroots[(owner, name, chroot)] = {"additional_repos": [], "with_opts": []}

    def _project_json(self, owner, name):
        chroots = sorted(c for (o, n, c) in self.chroots if (o, n) == (owner, name))
        return {"id": 1, "name": name, "ownername": owner, "full_name": f"{owner}/{name}",
                "additional_repos": self.projects[(owner, name)]["additional_repos"],
                # Copr's default; only a Copr admin can turn it off.
                "auto_prune": self.projects[(owner, name)].get("auto_prune", True),
                "chroot_repos": {c: f"{self.url}/results/{owner}/{name}/{c}/" for c in chroots}}

    def _authorized(self, headers):
        expected = "Basic " + base64.b64encode(f"{self.login}:{self.token}".encode()).decode()
        return headers.get("Authorization") == expected

    def route(self, method, path, query, headers, body):
        q = {k: v[0] for k, v in query.items()}
        if method in ("POST", "PUT", "DELETE") and not self._authorized(headers):
            return 401, {"error": "Login invalid/expired. Please visit /api to get or renew your API token."}, {}
        if path == "/api_3/project" and method == "GET":
            key = (q.get("ownername"), q.get("projectname"))
            if key not in self.projects:
                return 404, {"error": f"Project {key[0]}/{key[1]} does not exist."}, {}
            return 200, self._project_json(*key), {}
        if path.startswith("/api_3/project/add/") and method == "POST":
            owner = path.rsplit("/", 1)[1]
            data = json.loads(body)
            if owner not in self.owners:
                return 404, {"error": f"User or group {owner} does not exist."}, {}
            self.add_project(owner, data["name"], data["chroots"])
            return 200, self._project_json(owner, data["name"]), {}
        if path.startswith("/api_3/project/edit/") and method == "PUT":
            _, _, _, _, owner, name = path.split("/")[:6]
            data = json.loads(body)
            for chroot in data.get("chroots") or []:
                self.chroots.setdefault((owner, name, chroot), {"additional_repos": [], "with_opts": []})
            return 200, self._project_json(owner, name), {}
        if path == "/api_3/project-chroot" and method == "GET":
            key = (q["ownername"], q["projectname"], q["chrootname"])
            if key not in self.chroots:
                return 404, {"error": "Chroot not found in the project"}, {}
            return 200, dict(self.chroots[key], mock_chroot=key[2]), {}
        if path.startswith("/api_3/project-chroot/edit/") and method == "PUT":
            owner, name, chroot = path.split("/")[4:7]
            data = json.loads(_multipart(headers, body)["json"][1])
            settings = self.chroots[(owner, name, chroot)]
            for key in ("additional_repos", "with_opts", "without_opts"):
                if data.get(key) is not None:
                    settings[key] = data[key]
            return 200, dict(settings, mock_chroot=chroot), {}
        if path == "/api_3/build/create/upload" and method == "POST":
            parts = _multipart(headers, body)
            data = json.loads(parts["json"][1])
            file_name, content = parts["pkgs"]
            if (data["ownername"], data["projectname"]) not in self.projects:
                return 404, {"error": "Project does not exist."}, {}
            self.uploads.append((file_name, content, data))
            build_id = 1000 + len(self.builds)
            self.builds[build_id] = {"id": build_id, "state": "pending", "polls": 0,
                                     "ownername": data["ownername"], "projectname": data["projectname"],
                                     "chroots": data["chroots"]}
            return 200, self._build_json(build_id), {}
        if path.startswith("/api_3/build/") and method == "GET" and path.rsplit("/", 1)[1].isdigit():
            build = self.builds.get(int(path.rsplit("/", 1)[1]))
            if build is None:
                return 404, {"error": "Build does not exist."}, {}
            build["polls"] += 1
            if build["polls"] >= self.polls_to_finish:
                build["state"] = self.final_state
            elif build["polls"] >= 1:
                build["state"] = "running"
            return 200, self._build_json(build["id"]), {}
        if path == "/api_3/build-chroot/list" and method == "GET":
            build = self.builds[int(q["build_id"])]
            return 200, {"items": [{"name": c, "state": build["state"], "result_url": ""}
                                   for c in build["chroots"]], "meta": {}}, {}
        return 404, {"error": f"no route {method} {path}"}, {}

    def _build_json(self, build_id):
        build = self.builds[build_id]
        return {key: build[key] for key in ("id", "state", "ownername", "projectname", "chroots")}


def _multipart(headers, body):
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body)
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[name] = (part.get_filename(), part.get_payload(decode=True))
    return parts


# --- GitHub + file server ---------------------------------------------------------

class FakeGitHub(FakeServer):
    """GET /repos/O/R/releases/latest and /releases/tags/T with ETags; files under /files/."""

    file_prefix = "/files"

    def __init__(self):
        super().__init__()
        self.releases = []           # newest first: {"tag_name": ..., "prerelease": bool}
        self.not_modified = 0
        self.auth_seen = []

    def route(self, method, path, query, headers, body):
        self.auth_seen.append(headers.get("Authorization"))
        if path.startswith("/files/"):
            return 404, b"not found", {"Content-Type": "text/plain"}
        parts = path.strip("/").split("/")
        if parts[:1] == ["repos"] and parts[3:4] == ["releases"]:
            if parts[4:5] == ["latest"]:
                release = next((r for r in self.releases if not r.get("prerelease")), None)
            elif parts[4:5] == ["tags"]:
                release = next((r for r in self.releases if r["tag_name"] == parts[5]), None)
            else:
                release = None
            if release is None:
                return 404, {"message": "Not Found"}, {}
            payload = json.dumps(release, sort_keys=True).encode()
            etag = f'"{abs(hash(payload))}"'
            if headers.get("If-None-Match") == etag:
                self.not_modified += 1
                return 304, b"", {"ETag": etag}
            return 200, payload, {"ETag": etag}
        return 404, {"message": "Not Found"}, {}


def rate_limited(reset_in=3600):
    reset = int(time.time()) + reset_in
    return (403, {"message": "API rate limit exceeded for 127.0.0.1."},
            {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}), reset
