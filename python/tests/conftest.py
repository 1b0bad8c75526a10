"""Shared fixtures: a moto server with IAM authentication on (real SigV4 verification), and helpers
to build and run the Go `cortex` binary. Servers run on free 127.0.0.1 ports and are stopped after."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional

import pytest
import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(__file__))

ACCOUNT = "123456789012"
ALL_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})

# The quick mode of scripts/test.sh (CORTEX_TEST_QUICK=1) skips the slow suites: every test that
# needs moto or the real cortex binary (an operator, a local cluster). CI runs everything.
QUICK = os.environ.get("CORTEX_TEST_QUICK") == "1"
SLOW_FIXTURES = {"moto", "cortex_bin", "operator_factory"}


def pytest_collection_modifyitems(config, items):
    if not QUICK:
        return
    skip = pytest.mark.skip(reason="moto / end-to-end test: skipped in quick mode (CORTEX_TEST_QUICK=1)")
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, what: str, timeout: float = 60.0, proc: Optional[subprocess.Popen] = None, log: str = ""):
    """Poll ``check`` until it returns a truthy value (startup only; no assertion depends on time)."""
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{_tail(log)}")
        try:
            v = check()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {timeout}s ({last!r})\n{_tail(log)}")


def _tail(path: str) -> str:
    if not path or not os.path.exists(path):
        return ""
    with open(path, "r", errors="replace") as f:
        return f.read()[-4000:]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def moto_binary() -> str:
    p = os.environ.get("CORTEX_MOTO_SERVER") or os.path.join(REPO, ".venv", "bin", "moto_server")
    if not os.path.exists(p):
        pytest.fail(f"moto_server not found at {p}: run scripts/setup.sh")
    return p


@dataclass
class Key:
    access_key_id: str
    secret_access_key: str
    session_token: str = ""
    arn: str = ""


@dataclass
class Moto:
    url: str
    host: str
    users: Dict[str, Key]
    role_arn: str
    log: str

    def assume_role(self, user: str = "alice", session_name: str = "s1") -> Key:
        import boto3

        k = self.users[user]
        sts = boto3.client(
            "sts",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=k.access_key_id,
            aws_secret_access_key=k.secret_access_key,
        )
        c = sts.assume_role(RoleArn=self.role_arn, RoleSessionName=session_name)["Credentials"]
        return Key(
            c["AccessKeyId"],
            c["SecretAccessKey"],
            c["SessionToken"],
            f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role_arn.split('/')[-1]}/{session_name}",
        )

    def get_caller_identity(self, headers: Dict[str, str], body: bytes) -> requests.Response:
        return requests.post(self.url + "/", data=body, headers=headers, timeout=30)


# Setup actions done unauthenticated before moto starts enforcing signatures: keep in sync with
# _create_identities (moto counts every AWS action, including failed ones).
_FREE_ACTIONS = 7


def _create_identities(url: str) -> Dict[str, Key]:
    import boto3

    iam = boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup"
    )
    users: Dict[str, Key] = {}
    # alice: may do anything (and assume role r1). bob and carol: no policy (GetCallerIdentity is
    # always allowed); they get roles from the operator's access rules.
    arn = iam.create_user(UserName="alice")["User"]["Arn"]  # 1
    iam.put_user_policy(UserName="alice", PolicyName="all", PolicyDocument=ALL_POLICY)  # 2
    k = iam.create_access_key(UserName="alice")["AccessKey"]  # 3
    users["alice"] = Key(k["AccessKeyId"], k["SecretAccessKey"], "", arn)
    for name in ("bob",):
        arn = iam.create_user(UserName=name)["User"]["Arn"]  # 4
        k = iam.create_access_key(UserName=name)["AccessKey"]  # 5
        users[name] = Key(k["AccessKeyId"], k["SecretAccessKey"], "", arn)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": users["alice"].arn}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName="r1", AssumeRolePolicyDocument=json.dumps(trust))  # 6
    iam.put_role_policy(RoleName="r1", PolicyName="all", PolicyDocument=ALL_POLICY)  # 7
    return users


@pytest.fixture(scope="module")
def moto(tmp_path_factory) -> Iterator[Moto]:
    """moto with IAM auth on: after the setup actions, every request must carry a valid signature."""
    port = free_port()
    log = str(tmp_path_factory.mktemp("moto") / "moto.log")
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(_FREE_ACTIONS), MOTO_CALL_RESET_API="false")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(k, None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [moto_binary(), "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(url + "/moto-api/data.json", timeout=2).ok, "moto", proc=proc, log=log)
        users = _create_identities(url)
        yield Moto(url, f"127.0.0.1:{port}", users, f"arn:aws:iam::{ACCOUNT}:role/r1", log)
    finally:
        stop(proc)


# -- the Go binary ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cortex_bin(tmp_path_factory) -> str:
    """The cortex binary: $CORTEX_BIN, else built from this checkout (go build ./cmd/cortex)."""
    if os.environ.get("CORTEX_BIN"):
        return os.environ["CORTEX_BIN"]
    go = shutil.which("go")
    if go is None:
        on_path = shutil.which("cortex")
        if on_path:
            return on_path
        pytest.fail("neither go nor a cortex binary on PATH: run scripts/setup.sh")
    out = str(tmp_path_factory.mktemp("bin") / "cortex")
    r = subprocess.run([go, "build", "-o", out, "./cmd/cortex"], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"go build ./cmd/cortex failed:\n{r.stderr[-4000:]}")
    return out


@dataclass
class Operator:
    url: str
    ca_file: str
    ca_pem: str
    state_dir: str
    log: str
    proc: subprocess.Popen

    def auth(self) -> dict:
        return requests.get(self.url + "/v1/auth", verify=self.ca_file, timeout=10).json()


@pytest.fixture(scope="module")
def operator_factory(cortex_bin, tmp_path_factory) -> Iterator[Callable[..., Operator]]:
    """Starts `cortex operator serve` processes (stopped at the end of the module).
    """
    started: List[Operator] = []

    def start(*extra: str, env: Optional[Dict[str, str]] = None) -> Operator:
        d = tmp_path_factory.mktemp("operator")
        state = str(d / "state")
        log = str(d / "operator.log")
        port = free_port()
        args = [cortex_bin, "operator", "serve", "--state-dir", state, "--listen", f"127.0.0.1:{port}", *extra]
        penv = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("CORTEX_")}
        # Python handlers run on this interpreter (the .venv: it has waitress, the runtime's server).
        penv["CORTEX_PYTHON"] = sys.executable
        penv.update(env or {})
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=penv, start_new_session=True,
                                    cwd=str(d))
        ca_file = os.path.join(state, "tls", "ca.pem")
        url = f"https://127.0.0.1:{port}"
        op = Operator(url, ca_file, "", state, log, proc)
        started.append(op)
        wait_until(lambda: os.path.exists(ca_file) and requests.get(url + "/healthz", verify=ca_file, timeout=2).ok,
                   "operator", proc=proc, log=log)
        with open(ca_file) as f:
            op.ca_pem = f.read()
        return op

    yield start
    for op in started:
        stop(op.proc)
