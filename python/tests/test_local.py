"""Against the local provider: the operator runs APIs as local processes behind its gateway and
authenticates with the local admin credential (a 0600 file). Deploy the echo example, call it
through the gateway (TLS verified with the cluster's CA), read its logs, delete it."""

from __future__ import annotations

import os
import stat
import sys

import pytest

import cortex
from conftest import REPO
from test_client import write_cli_yaml

ECHO = os.path.join(REPO, "examples", "echo")


@pytest.fixture(scope="module")
def local_op(operator_factory, tmp_path_factory):
    d = tmp_path_factory.mktemp("localcfg")
    token_file = str(d / "local.token")
    op = operator_factory("--local-token-file", token_file)
    cfg = str(d / "cfg")
    write_cli_yaml(
        cfg,
        [{
            "name": "local",
            "provider": "local",
            "operator_endpoint": op.url,
            "ca_cert": op.ca_pem,
            "cluster_id": op.auth()["cluster_id"],
            "auth": "local",
            "local_token_file": token_file,
        }],
        default="local",
    )
    return op, cfg, token_file


def test_local_token_file_is_private(local_op):
    _, _, token_file = local_op
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600


def test_deploy_call_delete_echo(local_op, monkeypatch):
    op, cfg, _ = local_op
    if not os.path.exists(os.path.join(ECHO, "cortex.yaml")):
        pytest.fail("examples/echo/cortex.yaml is missing")
    monkeypatch.setenv("CORTEX_CLI_CONFIG_DIR", cfg)
    with cortex.client("local") as c:
        me = c.whoami()
        assert me["method"] == "local" and me["role"] == "admin"

        results = c.deploy(os.path.join(ECHO, "cortex.yaml"))
        assert {"name": "echo", "action": "created"} in results
        st = c.wait_for_api("echo", timeout=120)
        assert st["endpoint"].startswith("https://127.0.0.1:") and st["endpoint"].endswith("/echo")
        assert [a["name"] for a in c.list_apis()] == ["echo"]

        out = c.call("echo", {"text": "hi", "n": [1, 2]})
        assert out["greeting"] == "hello" and out["payload"] == {"text": "hi", "n": [1, 2]}

        # Redeploying the same spec changes nothing.
        assert c.deploy(ECHO) == [{"name": "echo", "action": "unchanged"}]
        assert isinstance(c.logs("echo"), str)

        assert c.delete_api("echo")["action"] == "deleted"
        with pytest.raises(cortex.NotFoundError) as ei:
            c.get_api("echo")
        assert ei.value.status == 404 and ei.value.code == "not_found"
        with pytest.raises(cortex.NotFoundError):
            c.call("echo", {})
        assert c.list_apis() == []


def test_invalid_spec_is_400(local_op, monkeypatch):
    _, cfg, _ = local_op
    monkeypatch.setenv("CORTEX_CLI_CONFIG_DIR", cfg)
    with pytest.raises(cortex.BadRequestError) as ei:
        cortex.client("local").deploy({"name": "Bad Name", "kind": "RealtimeAPI", "handler": {"type": "python"}})
    assert ei.value.status == 400 and ei.value.code == "bad_request"


def test_local_operator_gets_no_project_files(local_op, monkeypatch, tmp_path):
    # The local provider's operator reads the project from disk (and refuses uploads): the client
    # sends nothing, so a project a cluster deploy would refuse (a link out of it) deploys here.
    _, cfg, _ = local_op
    monkeypatch.setenv("CORTEX_CLI_CONFIG_DIR", cfg)
    proj = tmp_path / "proj"
    proj.mkdir()
    with open(os.path.join(ECHO, "handler.py"), "rb") as f:
        (proj / "handler.py").write_bytes(f.read())
    outside = tmp_path / "outside.ini"
    outside.write_text("x")
    os.symlink(str(outside), str(proj / "settings.ini"))
    spec = {"name": "nolink", "kind": "RealtimeAPI", "handler": {"type": "python", "path": "handler.py"}}
    with cortex.client("local") as c:
        assert c.deploy(spec, project_dir=str(proj)) == [{"name": "nolink", "action": "created"}]
        c.delete_api("nolink")


def test_wrong_local_secret_is_401(local_op, tmp_path):
    op, _, _ = local_op
    bad = tmp_path / "bad.token"
    bad.write_text("x" * 43)
    os.chmod(bad, 0o600)
    c = cortex.client(endpoint=op.url, ca_file=op.ca_file, local_token_file=str(bad))
    with pytest.raises(cortex.AuthenticationError) as ei:
        c.info()
    assert "x" * 43 not in str(ei.value) and "x" * 43 not in repr(ei.value)


def test_example_script_runs(local_op):
    import subprocess
    import sys

    _, cfg, _ = local_op
    env = dict(os.environ, CORTEX_CLI_CONFIG_DIR=cfg)
    r = subprocess.run(
        [sys.executable, os.path.join(REPO, "python", "examples", "quickstart.py"), "--env", "local"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "caller:   cortex:local:admin" in r.stdout
    assert '"payload": {"text": "hello from Python"}' in r.stdout
    assert "deleted:  echo" in r.stdout


# -- the environment `cortex cluster up` (local provider) configures ---------------------------------


@pytest.fixture(scope="module")
def cluster_up(cortex_bin, tmp_path_factory):
    """`cortex cluster up` in a private config dir (free ports), `cortex cluster down` afterwards."""
    import subprocess

    cfg = str(tmp_path_factory.mktemp("clusterup") / "cfg")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("CORTEX_")}
    env["CORTEX_CLI_CONFIG_DIR"] = cfg
    # Python handlers run on this interpreter (the .venv: it has waitress, the runtime's server).
    r = subprocess.run([cortex_bin, "cluster", "up", "--python", sys.executable], env=env, capture_output=True,
                       text=True, timeout=180)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        yield cfg
    finally:
        subprocess.run([cortex_bin, "cluster", "down"], env=env, capture_output=True, text=True, timeout=120)


def test_cluster_up_environment(cluster_up, monkeypatch):
    monkeypatch.setenv("CORTEX_CLI_CONFIG_DIR", cluster_up)
    e = cortex.load_config().get("local")
    assert e.auth == "local" and e.operator_endpoint.startswith("https://127.0.0.1:") and e.ca_cert
    assert stat.S_IMODE(os.stat(e.local_token_file).st_mode) == 0o600
    with cortex.client("local") as c:
        assert c.whoami()["role"] == "admin"
        assert c.deploy(ECHO) == [{"name": "echo", "action": "created"}]
        c.wait_for_api("echo", timeout=120)
        assert c.call("echo", {"k": "v"})["payload"] == {"k": "v"}
        c.delete_api("echo")
        assert c.list_apis() == []
