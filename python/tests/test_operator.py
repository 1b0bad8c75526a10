"""The Python client against the real Go operator (`cortex operator serve`), with moto as STS and
IAM authentication on: tokens minted in Python are verified by the Go verifier for real.
"""

from __future__ import annotations

import os
import socket
from typing import Callable, Optional

import botocore.session
import pytest
import requests

import cortex
from conftest import ACCOUNT, Key, Operator
from cortex.token import decode_token
from test_client import write_cli_yaml


def session_for(key: Key) -> botocore.session.Session:
    s = botocore.session.Session()
    s.set_credentials(key.access_key_id, key.secret_access_key, key.session_token or None)
    return s


@pytest.fixture(scope="module")
def start_operator(operator_factory, moto) -> Callable[..., Operator]:
    """An operator whose identity provider is moto (auth on); alice created the cluster."""

    def start(*extra: str, sts_endpoint: Optional[str] = None) -> Operator:
        return operator_factory(
            "--account-id", ACCOUNT,
            "--creator-arn", moto.users["alice"].arn,
            "--sts-test-endpoint", sts_endpoint or moto.url,
            *extra,
        )

    return start


@pytest.fixture(scope="module")
def op(start_operator) -> Operator:
    return start_operator()  # account mode: every identity of the account, creator is admin


def client_for(op: Operator, key: Key) -> cortex.Client:
    return cortex.client(endpoint=op.url, ca_file=op.ca_file, botocore_session=session_for(key))


def env_entry(op: Operator, name: str, **over: str) -> dict:
    a = op.auth()
    e = {
        "name": name,
        "provider": "local",
        "operator_endpoint": op.url,
        "ca_cert": op.ca_pem,
        "auth": "aws",
        "cluster_id": a["cluster_id"],
        "sts_host": a["sts_host"],
        "sts_region": a["sts_region"],
        "sts_scheme": a["sts_scheme"],
    }
    e.update(over)
    return e


def test_auth_params_advertise_test_endpoint(op, moto):
    a = op.auth()
    assert a["sts_host"] == moto.host and a["sts_region"] == "us-east-1" and a["sts_scheme"] == "http"
    assert "aws" in a["methods"] and a["cluster_id"]


def test_whoami_returns_iam_user_arn(op, moto):
    with client_for(op, moto.users["alice"]) as c:
        me = c.whoami()
        assert me["arn"] == moto.users["alice"].arn
        assert me["account"] == ACCOUNT and me["method"] == "aws" and me["role"] == "admin"
        info = c.info()
        assert info["cluster"]["id"] == op.auth()["cluster_id"]
        assert info["cluster"]["sts_test_endpoint"] == moto.url


def test_whoami_through_cli_yaml_and_env_credentials(op, moto, tmp_path, monkeypatch):
    bob = moto.users["bob"]
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bob.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bob.secret_access_key)
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [env_entry(op, "dev")], default="dev")
    monkeypatch.setenv("CORTEX_CLI_CONFIG_DIR", str(cfg))
    c = cortex.client()
    assert c.whoami()["arn"] == bob.arn
    assert c.whoami()["role"] == "deploy"  # account mode: the account's default role
    assert (cfg / "tokens" / "py-dev.json").exists()


def test_other_cluster_id_is_401(op, moto, tmp_path):
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [env_entry(op, "wrong", cluster_id="another-cluster-0001")])
    c = cortex.client("wrong", config_dir=str(cfg), botocore_session=session_for(moto.users["alice"]))
    with pytest.raises(cortex.AuthenticationError) as ei:
        c.info()
    e = ei.value
    assert e.status == 401 and e.code == "unauthenticated"
    token = c._tokens.token()
    assert token not in str(e) and token not in repr(e) and decode_token(token)["authorization"] not in str(e)


def test_session_credentials_work(op, moto):
    key = moto.assume_role("alice", "py-client")
    with client_for(op, key) as c:
        me = c.whoami()
    assert me["arn"] == key.arn
    assert me["canonical_arn"] == f"arn:aws:iam::{ACCOUNT}:role/r1"


def test_assume_role_profile_through_botocore_chain(op, moto, tmp_path, monkeypatch):
    """A profile with role_arn + source_profile: botocore assumes the role (at moto) itself."""
    alice = moto.users["alice"]
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    (tmp_path / "credentials").write_text(
        f"[base]\naws_access_key_id = {alice.access_key_id}\naws_secret_access_key = {alice.secret_access_key}\n"
    )
    (tmp_path / "config").write_text(
        f"[profile deployer]\nrole_arn = {moto.role_arn}\nsource_profile = base\nrole_session_name = via-profile\n"
        "region = us-east-1\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto.url)  # where botocore's AssumeRole goes
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [env_entry(op, "dev", aws_profile="deployer")])
    me = cortex.client("dev", config_dir=str(cfg)).whoami()
    assert me["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/r1/via-profile"


def test_rules_mode_read_role_cannot_deploy(start_operator, moto):
    op = start_operator("--auth-mode", "rules")
    alice, bob = moto.users["alice"], moto.users["bob"]
    admin = client_for(op, alice)
    reader = client_for(op, bob)
    # Not in any rule: a valid identity without a role.
    with pytest.raises(cortex.PermissionDeniedError) as ei:
        reader.info()
    assert ei.value.status == 403 and ei.value.code == "forbidden"
    rule = admin.grant(bob.arn, "read")
    assert rule["principal"] == bob.arn and rule["role"] == "read" and rule["granted_by"] == alice.arn
    assert [r["principal"] for r in admin.get_access()["rules"]] == [bob.arn]
    assert reader.whoami()["role"] == "read"
    with pytest.raises(cortex.PermissionDeniedError):
        reader.grant(bob.arn, "admin")
    with pytest.raises(cortex.PermissionDeniedError) as ei:
        reader.get_access()
    try:
        reader.deploy({"name": "echo", "kind": "RealtimeAPI", "handler": {"type": "command", "command": ["true"]}})
    except cortex.PermissionDeniedError as e:
        assert e.status == 403
    else:
        pytest.fail("a read-only caller could deploy")
    admin.revoke(bob.arn)
    with pytest.raises(cortex.PermissionDeniedError):
        reader.info()
    with pytest.raises(cortex.NotFoundError):
        admin.revoke(bob.arn)
    with pytest.raises(cortex.ConflictError):
        admin.revoke(alice.arn)


def test_identity_provider_down_is_503(start_operator, moto):
    # A port held by a socket that never listens: nothing else can take it, connections are refused.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        op = start_operator(sts_endpoint=f"http://127.0.0.1:{held.getsockname()[1]}")
        with pytest.raises(cortex.ServiceUnavailableError) as ei:
            client_for(op, moto.users["alice"]).info()
    assert ei.value.status == 503 and ei.value.code == "identity_unavailable"
    assert ei.value.retry_after


def test_repeated_bad_tokens_are_429(start_operator, moto, tmp_path):
    op = start_operator()
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [env_entry(op, "wrong", cluster_id="another-cluster-0002")])
    c = cortex.client("wrong", config_dir=str(cfg), botocore_session=session_for(moto.users["alice"]),
                      cache_tokens=False)
    seen = []
    for _ in range(80):
        try:
            c.info()
        except cortex.RateLimitedError as e:
            seen.append(e)
            break
        except cortex.AuthenticationError:
            continue
    assert seen, "80 refused tokens in a row were never rate limited"
    assert seen[0].status == 429 and seen[0].code == "rate_limited" and seen[0].retry_after


def test_local_admin_credential(start_operator, tmp_path, moto):
    tok = str(tmp_path / "local.token")
    op = start_operator("--local-token-file", tok)
    assert "local" in op.auth()["methods"]
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [env_entry(op, "local", auth="local", local_token_file=tok)])
    me = cortex.client("local", config_dir=str(cfg)).whoami()
    assert me["method"] == "local" and me["role"] == "admin"


def test_environment_written_by_go_cli(op, moto, cortex_bin, tmp_path, monkeypatch):
    """`cortex env configure` (Go) writes cli.yaml; the Python client uses that environment as is,
    and both clients see the same verified identity."""
    import json
    import subprocess

    alice = moto.users["alice"]
    cfg = tmp_path / "cfg"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("CORTEX_")}
    env.update(
        CORTEX_CLI_CONFIG_DIR=str(cfg),
        AWS_ACCESS_KEY_ID=alice.access_key_id,
        AWS_SECRET_ACCESS_KEY=alice.secret_access_key,
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    r = subprocess.run(
        [cortex_bin, "env", "configure", "dev", "--operator-endpoint", op.url, "--ca-file", op.ca_file, "--default"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run([cortex_bin, "whoami", "-o", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    go_arn = json.loads(r.stdout)
    for k in list(os.environ):
        if k.startswith("AWS_") or k.startswith("CORTEX_"):
            monkeypatch.delenv(k)
    for k, v in env.items():
        if k.startswith("AWS_") or k.startswith("CORTEX_"):
            monkeypatch.setenv(k, v)
    e = cortex.load_config().get()
    assert e.name == "dev" and e.cluster_id == op.auth()["cluster_id"] and e.ca_cert.strip() == op.ca_pem.strip()
    me = cortex.client().whoami()
    assert me["arn"] == alice.arn
    assert alice.arn in json.dumps(go_arn)


def test_local_cluster_with_iam_auth(cortex_bin, moto, tmp_path, monkeypatch):
    """`cortex cluster up --auth iam` (local provider, moto as STS) writes an aws-auth environment;
    the Python client authenticates to it with IAM credentials from the environment."""
    import subprocess

    alice = moto.users["alice"]
    cfg = str(tmp_path / "cfg")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("CORTEX_")}
    env["CORTEX_CLI_CONFIG_DIR"] = cfg
    up = [cortex_bin, "cluster", "up", "--auth", "iam", "--account-id", ACCOUNT, "--creator-arn", alice.arn,
          "--sts-test-endpoint", moto.url]
    r = subprocess.run(up, env=env, capture_output=True, text=True, timeout=180)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        e = cortex.load_config(cfg).get("local")
        assert e.auth_method == "aws" and e.sts_host == moto.host and e.cluster_id
        me = cortex.client("local", config_dir=cfg, botocore_session=session_for(alice)).whoami()
        assert me["arn"] == alice.arn and me["role"] == "admin" and me["method"] == "aws"
        session = moto.assume_role("alice", "py-local")
        assert cortex.client("local", config_dir=cfg, botocore_session=session_for(session)).whoami()["arn"] == session.arn
    finally:
        subprocess.run([cortex_bin, "cluster", "down"], env=env, capture_output=True, text=True, timeout=120)


def test_api_auth_types_keys_and_revocation(op, moto, monkeypatch):
    """One API per auth type on a real operator (moto as STS): the client authenticates as each
    spec asks, keys are created, listed without secrets and revoked with effect on the next call."""
    from test_local import ECHO

    alice = moto.users["alice"]
    monkeypatch.delenv("CORTEX_API_KEY", raising=False)
    server = {"kind": "RealtimeAPI", "handler": {"type": "command", "command": ["python3", "server.py"]}}
    with client_for(op, alice) as c:
        c.deploy(
            [
                dict(server, name="py-open", auth={"type": "none"}),
                dict(server, name="py-keyed", auth={"type": "api_key"}),
                dict(server, name="py-members"),  # default: iam, whoever may read the cluster
                dict(server, name="py-alice", auth={"type": "iam", "allow": [alice.arn]}),
            ],
            project_dir=ECHO,
        )
        for name in ("py-open", "py-keyed", "py-members", "py-alice"):
            c.wait_for_api(name, timeout=120)
        assert c.get_api("py-members")["auth"]["type"] == "iam"
        assert c.call("py-open", {"x": 1})["bytes"] == 8
        assert c.call("py-members", {"x": 1})["bytes"] == 8  # a token bound to the gateway's URL
        assert c.call("py-alice", {"x": 1})["bytes"] == 8

        with pytest.raises(cortex.CredentialsError):
            c.call("py-keyed", {})
        created = c.create_api_key("py-ci", ["py-keyed"], expires_in=3600)
        key = created["key"]
        assert key.startswith("cxk_") and created["api_key"]["apis"] == ["py-keyed"]
        assert c.call("py-keyed", {"x": 1}, api_key=key)["bytes"] == 8
        monkeypatch.setenv("CORTEX_API_KEY", key)
        assert c.call("py-keyed", {"x": 1})["bytes"] == 8
        listed = c.list_api_keys()
        assert [k["name"] for k in listed] == ["py-ci"] and key not in repr(listed)
        assert listed[0]["created_by"] == alice.arn and listed[0]["expires_at"]

        # A key for another API is 403; a token for the operator does not open an API.
        other = c.create_api_key("py-other", "py-open")["key"]
        with pytest.raises(cortex.APICallError) as ei:
            c.call("py-keyed", {}, api_key=other)
        assert ei.value.status == 403
        resp = requests.post(
            c.get_api("py-members")["endpoint"], json={}, verify=op.ca_file,
            headers={"Authorization": "Bearer " + c._token_source().token()},
        )
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"

        assert c.revoke_api_key("py-ci")["name"] == "py-ci"
        with pytest.raises(cortex.APICallError) as ei:
            c.call("py-keyed", {})
        assert ei.value.status == 401 and key not in str(ei.value)
        c.revoke_api_key("py-other")
        for name in ("py-open", "py-keyed", "py-members", "py-alice"):
            c.delete_api(name)

    # bob is in the account (role deploy in account mode) but not on py-alice's allow list.
    with client_for(op, moto.users["bob"]) as c:
        c.deploy(dict(server, name="py-alice", auth={"type": "iam", "allow": [alice.arn]}), project_dir=ECHO)
        c.wait_for_api("py-alice", timeout=120)
        with pytest.raises(cortex.APICallError) as ei:
            c.call("py-alice", {})
        assert ei.value.status == 403
        c.delete_api("py-alice")
