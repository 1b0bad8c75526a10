"""Test API: answers every request with the headers it received (to prove what the gateway
forwards). Standard library only; reads every declared body."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Headers(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        body = json.dumps({"api": os.environ.get("CORTEX_API_NAME", ""), "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["CORTEX_PORT"])), Headers)
    server.daemon_threads = True
    print("headers serving", flush=True)
    server.serve_forever()
