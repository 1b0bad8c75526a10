"""The echo API as a plain command (handler type "command"): any program that serves HTTP on
127.0.0.1:$CORTEX_PORT can be an API. Standard library only."""
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

    def do_GET(self):
        self._reply({"path": self.path, "replica": os.environ.get("CORTEX_REPLICA"), "pid": os.getpid()})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n)
        self._reply({"path": self.path, "bytes": len(data), "replica": os.environ.get("CORTEX_REPLICA"), "pid": os.getpid()})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["CORTEX_PORT"])), Echo)
    server.daemon_threads = True
    print("echo command serving", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)
