"""A small upstream for the proxy benchmarks and the router tests alike: an HTTP server on a
loopback address that answers every GET with its version, with keep-alive."""

from __future__ import annotations

import http.server
import threading


class VersionServer(http.server.ThreadingHTTPServer):
    def __init__(self, version: str, address: str = "127.0.0.1", port: int = 0) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes

            def do_GET(self) -> None:
                body = version.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((address, port), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def upstream(self) -> str:
        return f"{self.server_address[0]}:{self.server_address[1]}"
