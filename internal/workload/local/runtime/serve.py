"""cortex serving runtime for Python handlers.

Loads class Handler from $CORTEX_HANDLER_PATH, builds it with the JSON config in
$CORTEX_HANDLER_CONFIG, and serves it on $CORTEX_HOST:$CORTEX_PORT (host default 127.0.0.1, so
that on the local provider only this machine reaches a replica; the Kubernetes backend sets
0.0.0.0, so that the gateway reaches the pod through its Service):

  POST /...       body parsed as JSON (or passed as text/bytes) -> Handler.handle_post(payload)
  GET  /...       Handler.handle_get() if defined (HEAD: the same, without the body)
  GET  /healthz   answered by the runtime: 200 once the handler is built

The return value is sent as JSON unless it is bytes or str. Every error is a JSON body
{"error": {"code": ..., "message": ...}}.

HTTP is spoken by waitress (a maintained, pure-Python WSGI server), not by hand: it reads every
request's declared body in full, whatever the method, before the handler runs, so the bytes of a
body can never be taken for a request of their own on a kept-alive connection.
"""
import importlib.util
import json
import logging
import os
import sys
import traceback

WAITRESS_PIN = "waitress==3.0.2"

try:
    import waitress
except ImportError:
    print(
        # The supervisor quotes a replica's last line in the API's status: this one says why.
        "error: the Python runtime needs the waitress HTTP server, which %s cannot import; "
        "install it with: %s -m pip install '%s' (or start the cluster with --python <an "
        "interpreter that has it>, e.g. the repo's .venv/bin/python)" % (sys.executable, sys.executable, WAITRESS_PIN),
        file=sys.stderr,
        flush=True,
    )
    sys.exit(3)

MAX_BODY = int(os.environ.get("CORTEX_MAX_BODY", str(64 << 20)))
# Worker threads: how many requests a replica's handler runs at once (further ones wait in line).
THREADS = 8


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


STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    500: "Internal Server Error",
}


def error_body(status, message):
    code = {400: "bad_request", 405: "method_not_allowed", 411: "length_required", 413: "body_too_large"}.get(
        status, "handler_error"
    )
    return {"error": {"code": code, "message": message}}


def encode(body):
    """The bytes and content type of a handler's return value (ValueError if not sendable)."""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    try:
        return json.dumps(body).encode(), "application/json"
    except (TypeError, ValueError) as e:
        raise ValueError(str(e))


def make_app(handler):
    def respond(start_response, method, status, body, extra=()):
        data, ctype = encode(body)
        headers = [("Content-Type", ctype), ("Content-Length", str(len(data)))] + list(extra)
        start_response("%d %s" % (status, STATUS_TEXT.get(status, "Error")), headers)
        return [] if method == "HEAD" else [data]

    def fail(start_response, method, status, message, extra=()):
        return respond(start_response, method, status, error_body(status, message), extra)

    def call(start_response, method, fn, *args):
        try:
            result = fn(*args)
        except Exception:
            traceback.print_exc()
            sys.stderr.flush()
            return fail(start_response, method, 500, "the handler raised an exception (see cortex logs)")
        try:
            return respond(start_response, method, 200, result)
        except ValueError as e:
            print("cortex: the handler's return value cannot be sent as JSON: %s" % e, file=sys.stderr, flush=True)
            return fail(start_response, method, 500, "the handler's return value is not JSON serializable (see cortex logs)")

    def read_payload(environ):
        """The POST payload, or (status, message) when the body cannot be used."""
        length = environ.get("CONTENT_LENGTH") or ""
        if length == "":
            return None, (411, "Content-Length required")
        try:
            n = int(length)
        except ValueError:
            return None, (400, "bad Content-Length")
        if n < 0 or n > MAX_BODY:
            return None, (413, "body too large")
        raw = environ["wsgi.input"].read(n)
        ctype = environ.get("CONTENT_TYPE", "")
        if "json" in ctype or (ctype == "" and raw[:1] in (b"{", b"[")):
            try:
                return json.loads(raw or b"null"), None
            except ValueError as e:
                return None, (400, "invalid JSON: %s" % e)
        if ctype.startswith("text/"):
            return raw.decode("utf-8", "replace"), None
        return raw, None

    def app(environ, start_response):
        method = environ.get("REQUEST_METHOD", "")
        try:
            if method in ("GET", "HEAD"):
                if environ.get("PATH_INFO") == "/healthz":
                    return respond(start_response, method, 200, {"ok": True})
                fn = getattr(handler, "handle_get", None)
                if fn is None:
                    return fail(start_response, method, 405, "this API accepts POST", [("Allow", "POST")])
                return call(start_response, method, fn)
            if method == "POST":
                payload, err = read_payload(environ)
                if err is not None:
                    return fail(start_response, method, *err)
                return call(start_response, method, handler.handle_post, payload)
            allow = "GET, HEAD, POST" if getattr(handler, "handle_get", None) else "POST"
            return fail(start_response, method, 405, "method %s is not supported" % method[:32], [("Allow", allow)])
        except Exception:
            # A fault of the runtime itself: still a JSON error, never the server's own page.
            traceback.print_exc()
            sys.stderr.flush()
            return fail(start_response, method, 500, "the runtime failed to serve the request (see cortex logs)")

    return app


def main():
    port = int(os.environ["CORTEX_PORT"])
    host = os.environ.get("CORTEX_HOST") or "127.0.0.1"
    handler = load_handler()
    server = waitress.create_server(
        make_app(handler),
        host=host,
        port=port,
        threads=THREADS,
        max_request_body_size=MAX_BODY,
        ident="cortex",
        asyncore_use_poll=True,  # poll(2), not select(2): no limit at 1024 file descriptors
    )
    # "Task queue depth is N" whenever all threads are busy is load, not a fault of the API.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    print("cortex: %s serving on %s:%d" % (os.environ.get("CORTEX_API_NAME", "api"), host, port), flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
