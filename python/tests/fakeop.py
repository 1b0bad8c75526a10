"""A scripted HTTPS server standing in for the operator (and the gateway), with its own CA, to test
the client's HTTP behaviour: TLS verification, error mapping, retries, redaction."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_ca(cn: str = "test CA") -> Tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(ca_key: Any, ca_cert: x509.Certificate) -> Tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


Response = Tuple[int, Dict[str, str], bytes]


class FakeServer:
    """HTTPS on 127.0.0.1 with a fresh CA; ``routes[(method, path)]`` returns (status, headers, body)."""

    def __init__(self, tmpdir: str) -> None:
        self.ca_key, self.ca_cert = make_ca()
        self.ca_pem = pem(self.ca_cert)
        cert, key = make_server_cert(self.ca_key, self.ca_cert)
        cf, kf = os.path.join(tmpdir, "server.pem"), os.path.join(tmpdir, "server.key")
        with open(cf, "wb") as f:
            f.write(cert)
        with open(kf, "wb") as f:
            f.write(key)
        self.ca_file = os.path.join(tmpdir, "ca.pem")
        with open(self.ca_file, "w") as f:
            f.write(self.ca_pem)
        self.requests: List[Dict[str, Any]] = []
        self.routes: Dict[Tuple[str, str], Callable[[Dict[str, Any]], Response]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path, _, query = self.path.partition("?")
                req = {"method": self.command, "path": path, "query": query, "headers": dict(self.headers), "body": body}
                outer.requests.append(req)
                fn = outer.routes.get((self.command, path))
                if fn is None:
                    status, headers, out = 404, {"Content-Type": "application/json"}, json.dumps(
                        {"error": {"code": "not_found", "message": "no route " + path}}).encode()
                else:
                    status, headers, out = fn(req)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cf, kf)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def json(self, method: str, path: str, status: int, obj: Any, headers: Optional[Dict[str, str]] = None) -> None:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        self.routes[(method, path)] = lambda req: (status, h, json.dumps(obj).encode())

    def error(self, method: str, path: str, status: int, code: str, message: str, headers: Optional[Dict[str, str]] = None) -> None:
        self.json(method, path, status, {"error": {"code": code, "message": message}}, headers)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
