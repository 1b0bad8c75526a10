"""cortex serving runtime for Python handlers (stdlib only).

Loads class Handler from $CORTEX_HANDLER_PATH, builds it with the JSON config in
$CORTEX_HANDLER_CONFIG, and serves it on 127.0.0.1:$CORTEX_PORT:

  POST /...   body parsed as JSON (or passed as text/bytes) -> Handler.handle_post(payload)
  GET  /...   Handler.handle_get() if defined
  GET /healthz (answered by the runtime) -> 200 once the handler is built

The return value is sent as JSON unless it is bytes or str.
"""
import importlib.util
import json
import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = int(os.environ.get("CORTEX_MAX_BODY", str(64 << 20)))


def load_handler():
    path = os.environ["CORTEX_HANDLER_PATH"]
    config = json.loads(os.environ.get("CORTEX_HANDLER_CONFIG") or "{}")
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("cortex_handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, "Handler", None)
    if cls is None:
        raise SystemExit("cortex: %s defines no class Handler" % path)
    return cls(config)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_request_handler(handler):
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # the gateway keeps the access log
            pass

        def reply(self, status, body, content_type="application/json"):
            if isinstance(body, (bytes, bytearray)):
                content_type = "application/octet-stream"
            elif isinstance(body, str):
                body = body.encode()
                content_type = "text/plain; charset=utf-8"
            else:
                body = json.dumps(body).encode()
                content_type = "application/json"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def fail(self, status, message):
            self.reply(status, {"error": {"code": "handler_error" if status == 500 else "bad_request", "message": message}})

        def do_GET(self):
            if self.path == "/healthz":
                return self.reply(200, {"ok": True})
            fn = getattr(handler, "handle_get", None)
            if fn is None:
                return self.fail(405, "this API accepts POST")
            self.call(fn)

        def do_POST(self):
            length = self.headers.get("Content-Length")
            if length is None:
                return self.fail(411, "Content-Length required")
            try:
                n = int(length)
            except ValueError:
                return self.fail(400, "bad Content-Length")
            if n < 0 or n > MAX_BODY:
                return self.fail(413, "body too large")
            raw = self.rfile.read(n)
            ctype = self.headers.get("Content-Type", "")
            payload = raw
            if "json" in ctype or (ctype == "" and raw[:1] in (b"{", b"[")):
                try:
                    payload = json.loads(raw or b"null")
                except ValueError as e:
                    return self.fail(400, "invalid JSON: %s" % e)
            elif ctype.startswith("text/"):
                payload = raw.decode("utf-8", "replace")
            self.call(handler.handle_post, payload)

        def call(self, fn, *args):
            try:
                result = fn(*args)
            except Exception:
                traceback.print_exc()
                sys.stderr.flush()
                return self.fail(500, "the handler raised an exception (see cortex logs)")
            if not isinstance(result, (bytes, bytearray, str)):
                try:
                    result = json.dumps(result).encode()
                except (TypeError, ValueError) as e:
                    print("cortex: the handler's return value cannot be sent as JSON: %s" % e, file=sys.stderr, flush=True)
                    return self.fail(500, "the handler's return value is not JSON serializable (see cortex logs)")
                return self.reply_json(result)
            self.reply(200, result)

        def reply_json(self, data):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return RequestHandler


def main():
    port = int(os.environ["CORTEX_PORT"])
    handler = load_handler()
    server = Server(("127.0.0.1", port), make_request_handler(handler))
    print("cortex: %s serving on 127.0.0.1:%d" % (os.environ.get("CORTEX_API_NAME", "api"), port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
