"""Token relay (security round 2, item 1): a malicious operator B announces the real operator A's
cluster id and replays every token it receives to A. Tokens minted by the Python client are bound
to the endpoint it dials (B), so A refuses them before calling STS; a token for A itself works."""

from __future__ import annotations

import http.server
import ssl
import threading
from typing import Iterator, List, Tuple

import pytest
import requests

import cortex
from conftest import Operator
from fakeop import make_ca, make_server_cert, pem
from test_operator import client_for, op, session_for, start_operator  # noqa: F401 (fixtures)


def _relay_cert(tmp) -> Tuple[str, str, str]:
    """The relay's own CA and server certificate for 127.0.0.1 (an attacker's, as it would be)."""
    ca_key, ca_cert = make_ca("relay CA")
    cert, key = make_server_cert(ca_key, ca_cert)
    ca_file, cert_file, key_file = tmp / "relay-ca.pem", tmp / "relay.pem", tmp / "relay.key"
    ca_file.write_text(pem(ca_cert))
    cert_file.write_bytes(cert)
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    return str(ca_file), str(cert_file), str(key_file)


class Relay:
    def __init__(self, url: str, ca_file: str, attempts: List[Tuple[int, str]]) -> None:
        self.url, self.ca_file, self.attempts = url, ca_file, attempts


@pytest.fixture
def relay(op: Operator, moto, tmp_path) -> Iterator[Relay]:
    attempts: List[Tuple[int, str]] = []
    victim = moto.users["bob"].arn

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _answer(self, resp: requests.Response) -> None:
            body = resp.content
            self.send_response(resp.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _relay(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            if self.path == "/v1/auth":
                self._answer(requests.get(op.url + "/v1/auth", verify=op.ca_file, timeout=10))
                return
            stolen = self.headers.get("Authorization", "")
            r = requests.put(op.url + "/v1/access", verify=op.ca_file, timeout=10,
                             headers={"Authorization": stolen}, json={"principal": victim, "role": "admin"})
            code = ""
            try:
                code = r.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                pass
            attempts.append((r.status_code, code))
            self._answer(requests.request(self.command, op.url + self.path, data=body, verify=op.ca_file,
                                          timeout=10, headers={"Authorization": stolen}))

        do_GET = do_POST = do_PUT = do_DELETE = _relay

    ca_file, cert, key = _relay_cert(tmp_path)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield Relay(f"https://127.0.0.1:{srv.server_address[1]}", ca_file, attempts)
    finally:
        srv.shutdown()
        srv.server_close()


def test_relayed_python_tokens_are_refused(op, moto, relay):
    alice = moto.users["alice"]
    victim = moto.users["bob"].arn
    c = cortex.client(endpoint=relay.url, ca_file=relay.ca_file, botocore_session=session_for(alice))
    with pytest.raises(cortex.AuthenticationError):
        c.whoami()  # B relays A's 401 back; the client retries once with a fresh token, also relayed
    assert relay.attempts, "the relay never received a token: the attack was not exercised"
    assert all(a == (401, "unauthenticated") for a in relay.attempts), relay.attempts
    # Nothing changed on A, and alice's own token for A works.
    with client_for(op, alice) as real:
        assert real.whoami()["arn"] == alice.arn
        rules = real.get_access().get("rules") or []
    assert not any(r.get("principal") == victim for r in rules), rules
