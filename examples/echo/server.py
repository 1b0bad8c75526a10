"""The echo API as a plain command (handler type "command"): any program that serves HTTP on
127.0.0.1:$CORTEX_PORT can be an API. Standard library only.

Whatever serves your API must read (or discard) every body a request declares, or close the
connection: the gateway keeps connections to replicas alive, and unread body bytes would be taken
for the next request. http.server does not do that for you, hence _body() below; a maintained
server (waitress, gunicorn, uvicorn, ...) does."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        """The request's body, read in full; None (and the connection closed) when it cannot be."""
        if self.headers.get("Transfer-Encoding"):
            self.send_error(411, "send a Content-Length")  # closes the connection
            return None
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0 or n > 64 << 20:
            self.send_error(400 if n < 0 else 413)  # closes the connection
            return None
        return self.rfile.read(n)

    def do_GET(self):
        if self._body() is None:
            return
        self._reply({"path": self.path, "replica": os.environ.get("CORTEX_REPLICA"), "pid": os.getpid()})

    def do_POST(self):
        data = self._body()
        if data is None:
            return
        self._reply({"path": self.path, "bytes": len(data), "replica": os.environ.get("CORTEX_REPLICA"), "pid": os.getpid()})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["CORTEX_PORT"])), Echo)
    server.daemon_threads = True
    print("echo command serving", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)
