"""A real HTTP server on 127.0.0.1 for download tests, with injectable faults.

    server = FaultServer(); server.start()
    server.add("/a.tar.gz", data, faults=["500", "ok"])   # first request 500, then the file
    server.url("/a.tar.gz"); server.hits["/a.tar.gz"]

Faults, one per request in order (the last one repeats): "ok", "500", "404",
"truncate" (Content-Length larger than the body, then close), "reset" (TCP RST
before any response), "wrong" (a different body of the same length), "trickle"
(the body one byte every 0.1 s: never a read timeout, never done).
"""

import socket
import struct
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server.owner
        with server.lock:
            server.hits[self.path] += 1
            entry = server.files.get(self.path)
            if entry is None:
                fault = "404"
                data = b""
            else:
                data, faults = entry
                fault = faults.pop(0) if len(faults) > 1 else faults[0]
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault in ("500", "404"):
            body = f"error {fault}\n".encode()
            self.send_response(int(fault))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        if fault == "wrong":
            data = bytes(b ^ 0xFF for b in data)
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        declared = len(data) + (4096 if fault == "truncate" else 0)
        self.send_header("Content-Length", str(declared))
        self.send_header("Connection", "close")
        self.end_headers()
        if fault == "trickle":
            import time
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
        self.close_connection = True


class FaultServer:
    def __init__(self):
        self.files = {}
        self.hits = Counter()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, path, data, faults=("ok",)):
        with self.lock:
            self.files[path] = (bytes(data), list(faults))

    def url(self, path):
        host, port = self.httpd.server_address
        return f"http://{host}:{port}{path}"

    @property
    def total_hits(self):
        return sum(self.hits.values())
