"""The client against a scripted HTTPS operator: cli.yaml, TLS verification against the
environment's CA, authentication headers, token reuse, error classes, redaction, the API helpers."""

from __future__ import annotations

import json
import os
import stat
import textwrap

import pytest

import cortex
import reference_sigv4 as ref
from cortex.token import decode_token, normalize_audience
from fakeop import FakeServer

SECRET_LOCAL = "s3cr3t-local-admin-credential-value"


@pytest.fixture
def server(tmp_path):
    s = FakeServer(str(tmp_path))
    yield s
    s.close()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Isolated botocore credential chain: only what each test puts in the environment/files."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws_config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws_credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENVEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envSecretKeyEXAMPLE/abc+def")
    return tmp_path


def write_cli_yaml(cfg_dir, envs, default=""):
    """cli.yaml as the Go CLI writes it (sigs.k8s.io/yaml: sorted keys, PEM as a literal block)."""
    lines = []
    if default:
        lines.append(f"default_environment: {default}")
    lines.append("environments:")
    for e in envs:
        first = True
        for k in sorted(e):
            v = e[k]
            prefix = "- " if first else "  "
            first = False
            if isinstance(v, str) and "\n" in v:
                lines.append(f"{prefix}{k}: |")
                lines.extend("    " + ln for ln in v.rstrip("\n").split("\n"))
            elif isinstance(v, bool):
                lines.append(f"{prefix}{k}: {'true' if v else 'false'}")
            else:
                lines.append(f"{prefix}{k}: {json.dumps(v) if v == '' else v}")
    os.makedirs(cfg_dir, mode=0o700, exist_ok=True)
    path = os.path.join(cfg_dir, "cli.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def local_env(server, tmp_path, name="local"):
    tok = tmp_path / f"{name}.token"
    tok.write_text(SECRET_LOCAL + "\n")
    os.chmod(tok, 0o600)
    return {
        "name": name,
        "provider": "local",
        "operator_endpoint": server.url,
        "ca_cert": server.ca_pem,
        "auth": "local",
        "local_token_file": str(tok),
        "cluster_id": "c-local-1",
    }


def aws_env_entry(server, name="prod", cluster_id="c-prod-1"):
    return {
        "name": name,
        "provider": "aws",
        "operator_endpoint": server.url,
        "ca_cert": server.ca_pem,
        "auth": "aws",
        "cluster_id": cluster_id,
        "sts_host": "sts.us-west-2.amazonaws.com",
        "sts_region": "us-west-2",
        "sts_scheme": "https",
    }


INFO = {
    "version": "0.1.0",
    "cluster": {"id": "c-prod-1", "name": "prod", "provider": "aws", "auth_mode": "account"},
    "caller": {"arn": "arn:aws:iam::123456789012:user/alice", "account": "123456789012", "role": "admin"},
}


# -- cli.yaml ---------------------------------------------------------------------------------------


def test_environment_from_cli_yaml(server, tmp_path, monkeypatch, aws_env):
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [local_env(server, tmp_path), aws_env_entry(server)], default="prod")
    monkeypatch.setenv("CORTEX_CLI_CONFIG_DIR", str(cfg))
    server.json("GET", "/v1/info", 200, INFO)
    with cortex.client("local") as c:
        assert c.info() == INFO
        assert server.requests[-1]["headers"]["Authorization"] == "Bearer cortex-local-v1." + SECRET_LOCAL
        assert c.environment.provider == "local"
    with cortex.client() as c:  # the default environment
        assert c.whoami()["arn"] == INFO["caller"]["arn"]
        assert server.requests[-1]["headers"]["Authorization"].startswith("Bearer cortex-aws-v2.")
    with pytest.raises(cortex.ConfigError, match="not configured"):
        cortex.client("nope")


def test_no_default_is_never_guessed(server, tmp_path, monkeypatch, aws_env):
    # cluster down removed the default environment; the one left is not used without being named.
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [aws_env_entry(server)])
    monkeypatch.setenv("CORTEX_CLI_CONFIG_DIR", str(cfg))
    with pytest.raises(cortex.ConfigError, match=r"no default set .*\(environments: prod\).*cortex env default"):
        cortex.client()
    with cortex.client("prod") as c:
        assert c.environment.name == "prod"


def test_config_errors(tmp_path, monkeypatch):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    monkeypatch.setenv("CORTEX_CLI_CONFIG_DIR", str(cfg))
    with pytest.raises(cortex.ConfigError, match="none is configured.*cortex cluster up"):
        cortex.client()  # no cli.yaml at all
    (cfg / "cli.yaml").write_text("environments:\n- name: Bad_Name\n  operator_endpoint: https://x\n")
    with pytest.raises(cortex.ConfigError, match="invalid environment name"):
        cortex.client()
    (cfg / "cli.yaml").write_text("environments: [\n")
    with pytest.raises(cortex.ConfigError, match="invalid YAML"):
        cortex.client()
    (cfg / "cli.yaml").write_text(
        "environments:\n- name: a\n  operator_endpoint: https://x\n- name: a\n  operator_endpoint: https://y\n"
    )
    with pytest.raises(cortex.ConfigError, match="twice"):
        cortex.client("a")
    (cfg / "cli.yaml").write_text("environments:\n- name: a\n  operator_endpoint: http://x\n")
    with pytest.raises(cortex.ConfigError, match="https"):
        cortex.client("a")


def test_config_dir_default_is_home(monkeypatch, tmp_path):
    monkeypatch.delenv("CORTEX_CLI_CONFIG_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cortex.config_dir() == str(tmp_path / ".cortex")


def test_unknown_keys_are_kept_not_fatal(tmp_path):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "cli.yaml").write_text(
        textwrap.dedent(
            """\
            default_environment: x
            environments:
            - name: x
              operator_endpoint: https://127.0.0.1:1
              future_field: 3
            """
        )
    )
    e = cortex.load_config(str(cfg)).get()
    assert e.name == "x" and e.extra == {"future_field": 3}


# -- TLS --------------------------------------------------------------------------------------------


def test_tls_verified_against_environment_ca(server, tmp_path, aws_env):
    (tmp_path / "other").mkdir()
    other = FakeServer(str(tmp_path / "other"))
    try:
        server.json("GET", "/v1/info", 200, INFO)
        # The right endpoint with another cluster's CA: refused before any request is sent.
        c = cortex.client(endpoint=server.url, ca_cert=other.ca_pem, local_token_file=_token_file(tmp_path))
        with pytest.raises(cortex.TransportError, match="TLS"):
            c.info()
        assert server.requests == []
        # System roots do not trust a private CA either.
        c = cortex.client(endpoint=server.url, local_token_file=_token_file(tmp_path))
        with pytest.raises(cortex.TransportError, match="TLS"):
            c.info()
        c = cortex.client(endpoint=server.url, ca_file=server.ca_file, local_token_file=_token_file(tmp_path))
        assert c.info() == INFO
        ca_copy = c._ca_path
        assert ca_copy and stat.S_IMODE(os.stat(ca_copy).st_mode) == 0o600
        c.close()
        assert not os.path.exists(ca_copy)
    finally:
        other.close()


def _token_file(tmp_path):
    p = tmp_path / "local.token"
    p.write_text(SECRET_LOCAL)
    os.chmod(p, 0o600)
    return str(p)


def test_operator_endpoint_must_be_https():
    with pytest.raises(cortex.ConfigError):
        cortex.client(endpoint="http://127.0.0.1:8888")


# -- AWS tokens -------------------------------------------------------------------------------------


def test_endpoint_mode_discovers_binding_and_reuses_token(server, aws_env):
    server.json(
        "GET",
        "/v1/auth",
        200,
        {"cluster_id": "c-disc", "sts_host": "sts.eu-west-1.amazonaws.com", "sts_region": "eu-west-1",
         "sts_scheme": "https", "methods": ["aws"]},
    )
    server.json("GET", "/v1/info", 200, INFO)
    c = cortex.client(endpoint=server.url, ca_file=server.ca_file)
    c.info()
    c.info()
    auth_calls = [r for r in server.requests if r["path"] == "/v1/auth"]
    info_calls = [r for r in server.requests if r["path"] == "/v1/info"]
    assert len(auth_calls) == 1 and "Authorization" not in auth_calls[0]["headers"]
    h1, h2 = (r["headers"]["Authorization"] for r in info_calls)
    assert h1 == h2  # reused while valid
    d = decode_token(h1[len("Bearer "):])
    assert d["host"] == "sts.eu-west-1.amazonaws.com"
    # Signed for the advertised cluster id with the env credentials (checked independently).
    assert d["authorization"] == ref.authorization(
        "AKIDENVEXAMPLE", "envSecretKeyEXAMPLE/abc+def", None, "sts.eu-west-1.amazonaws.com", "eu-west-1",
        "c-disc", normalize_audience(server.url), d["date"])
    assert d["audience"] == normalize_audience(server.url)  # what the client dialed, not announced


def test_session_credentials_from_environment(server, aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLEsession/token+=")
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [aws_env_entry(server)])
    server.json("GET", "/v1/info", 200, INFO)
    cortex.client("prod", config_dir=str(cfg)).info()
    d = decode_token(server.requests[-1]["headers"]["Authorization"][len("Bearer "):])
    assert d["security_token"] == "IQoJb3JpZ2luX2VjEXAMPLEsession/token+="
    assert "x-amz-security-token" in d["authorization"]


def test_profile_from_environment_entry_and_aws_profile(server, aws_env, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (aws_env / "aws_credentials").write_text(
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n"
        "[team]\naws_access_key_id = AKIDTEAM\naws_secret_access_key = t\n"
        "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = o\n"
    )
    cfg = tmp_path / "cfg"
    e1 = aws_env_entry(server, "prod")
    e2 = dict(aws_env_entry(server, "team"), aws_profile="team")
    write_cli_yaml(str(cfg), [e1, e2])
    server.json("GET", "/v1/info", 200, INFO)

    def akid():
        a = decode_token(server.requests[-1]["headers"]["Authorization"][len("Bearer "):])["authorization"]
        return a.split("Credential=")[1].split("/")[0]

    cortex.client("prod", config_dir=str(cfg), cache_tokens=False).info()
    assert akid() == "AKIDDEFAULT"
    cortex.client("team", config_dir=str(cfg), cache_tokens=False).info()
    assert akid() == "AKIDTEAM"
    monkeypatch.setenv("AWS_PROFILE", "other")
    cortex.client("prod", config_dir=str(cfg), cache_tokens=False).info()
    assert akid() == "AKIDOTHER"
    cortex.client("prod", config_dir=str(cfg), cache_tokens=False, aws_profile="team").info()
    assert akid() == "AKIDTEAM"


def test_no_credentials(server, aws_env, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [aws_env_entry(server)])
    server.json("GET", "/v1/info", 200, INFO)
    with pytest.raises(cortex.CredentialsError, match="no AWS credentials"):
        cortex.client("prod", config_dir=str(cfg)).info()
    assert server.requests == []


def test_token_file_cache_shared_between_clients(server, aws_env, tmp_path):
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [aws_env_entry(server)])
    server.json("GET", "/v1/info", 200, INFO)
    cortex.client("prod", config_dir=str(cfg)).info()
    cortex.client("prod", config_dir=str(cfg)).info()
    a, b = (r["headers"]["Authorization"] for r in server.requests)
    assert a == b
    cache = cfg / "tokens" / "py-prod.json"
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache.parent).st_mode) == 0o700


def test_refused_cached_token_is_replaced_once(server, aws_env, tmp_path):
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [aws_env_entry(server)])
    server.json("GET", "/v1/info", 200, INFO)
    # A token another process cached 100 s ago: still reusable, so the client sends it first.
    import datetime as dt
    from botocore.credentials import ReadOnlyCredentials
    from cortex.token import TokenSource

    TokenSource(
        lambda: ReadOnlyCredentials("AKIDENVEXAMPLE", "envSecretKeyEXAMPLE/abc+def", None),
        host="sts.us-west-2.amazonaws.com", cluster_id="c-prod-1", region="us-west-2",
        audience=server.url,
        cache_path=str(cfg / "tokens" / "py-prod.json"),
        clock=lambda: dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=100),
    ).token()
    seen = []

    def once_401(req):
        seen.append(req["headers"]["Authorization"])
        if len(seen) == 1:
            return 401, {"Content-Type": "application/json"}, b'{"error":{"code":"token_expired","message":"x"}}'
        return 200, {"Content-Type": "application/json"}, json.dumps(INFO).encode()

    server.routes[("GET", "/v1/info")] = once_401
    cortex.client("prod", config_dir=str(cfg)).info()
    assert len(seen) == 2 and seen[0] != seen[1]
    # A freshly minted token that is refused is not retried.
    server.error("GET", "/v1/info", 401, "invalid_token", "bad signature")
    server.requests.clear()
    c = cortex.client("prod", config_dir=str(cfg), cache_tokens=False)
    with pytest.raises(cortex.AuthenticationError):
        c.info()
    assert len(server.requests) == 1


# -- errors and redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,cls",
    [
        (400, cortex.BadRequestError),
        (401, cortex.AuthenticationError),
        (403, cortex.PermissionDeniedError),
        (404, cortex.NotFoundError),
        (409, cortex.ConflictError),
        (413, cortex.PayloadTooLargeError),
        (429, cortex.RateLimitedError),
        (503, cortex.ServiceUnavailableError),
        (500, cortex.OperatorError),
    ],
)
def test_error_classes_and_no_secret_in_text(server, aws_env, tmp_path, status, cls):
    cfg = tmp_path / "cfg"
    write_cli_yaml(str(cfg), [aws_env_entry(server)])

    def echo_secret(req):
        # A hostile or buggy server echoing the credential back must not leak it through the exception.
        auth = req["headers"]["Authorization"]
        body = {"error": {"code": "code_" + str(status), "message": "you sent " + auth + " raw " + auth[7:]}}
        return status, {"Content-Type": "application/json", "Retry-After": "7"}, json.dumps(body).encode()

    server.routes[("GET", "/v1/info")] = echo_secret
    c = cortex.client("prod", config_dir=str(cfg), cache_tokens=False)
    with pytest.raises(cls) as ei:
        c.info()
    e = ei.value
    assert type(e) is cls
    assert e.status == status and e.code == f"code_{status}"
    sent = server.requests[-1]["headers"]["Authorization"][len("Bearer "):]
    payload = sent[len("cortex-aws-v2."):]
    for text in (str(e), repr(e), e.message, repr(c)):
        assert sent not in text and payload[:40] not in text and "cortex-aws-v2." not in text
    if status == 429:
        assert e.retry_after == 7.0


def test_local_secret_never_in_errors(server, tmp_path):
    def echo(req):
        return 403, {"Content-Type": "text/plain"}, ("forbidden for " + req["headers"]["Authorization"]).encode()

    server.routes[("GET", "/v1/info")] = echo
    c = cortex.client(endpoint=server.url, ca_file=server.ca_file, local_token_file=_token_file(tmp_path))
    with pytest.raises(cortex.PermissionDeniedError) as ei:
        c.info()
    for text in (str(ei.value), repr(ei.value), repr(c)):
        assert SECRET_LOCAL not in text


def test_local_token_file_must_be_private(server, tmp_path):
    p = _token_file(tmp_path)
    os.chmod(p, 0o644)
    c = cortex.client(endpoint=server.url, ca_file=server.ca_file, local_token_file=p)
    with pytest.raises(cortex.CredentialsError, match="readable by others") as ei:
        c.info()
    assert SECRET_LOCAL not in str(ei.value)
    assert server.requests == []


def test_redirect_not_followed(server, tmp_path):
    server.routes[("GET", "/v1/info")] = lambda req: (302, {"Location": "https://example.com/"}, b"")
    c = cortex.client(endpoint=server.url, ca_file=server.ca_file, local_token_file=_token_file(tmp_path))
    with pytest.raises(cortex.OperatorError) as ei:
        c.info()
    assert ei.value.status == 302


def test_connection_refused_is_transport_error(tmp_path):
    from conftest import free_port

    c = cortex.client(endpoint=f"https://127.0.0.1:{free_port()}", local_token_file=_token_file(tmp_path))
    with pytest.raises(cortex.TransportError):
        c.info()


# -- operator API methods ---------------------------------------------------------------------------


@pytest.fixture
def local(server, tmp_path):
    c = cortex.client(endpoint=server.url, ca_file=server.ca_file, local_token_file=_token_file(tmp_path))
    yield c
    c.close()


def test_deploy_from_file_sets_project_dir(server, local, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "cortex.yaml").write_text(
        "- name: echo\n  kind: RealtimeAPI\n  handler:\n    type: python\n    path: handler.py\n"
    )
    server.json("POST", "/v1/apis", 200, {"results": [{"name": "echo", "action": "created"}]})
    server.json("GET", "/v1/info", 200, dict(INFO, cluster=dict(INFO["cluster"], provider="local")))
    assert local.deploy(str(proj / "cortex.yaml")) == [{"name": "echo", "action": "created"}]
    assert local.deploy(str(proj)) == [{"name": "echo", "action": "created"}]
    body = json.loads(server.requests[-1]["body"])
    assert body == {"apis": [{"name": "echo", "kind": "RealtimeAPI",
                              "handler": {"type": "python", "path": "handler.py"}, "project_dir": str(proj)}]}
    assert server.requests[-1]["headers"]["Content-Type"] == "application/json"
    local.deploy({"name": "a", "kind": "RealtimeAPI"}, project_dir=str(proj))
    assert json.loads(server.requests[-1]["body"])["apis"][0]["project_dir"] == str(proj)
    local.deploy([{"name": "a"}, {"name": "b", "project_dir": "/elsewhere"}])
    apis = json.loads(server.requests[-1]["body"])["apis"]
    assert apis[0]["project_dir"] == os.getcwd() and apis[1]["project_dir"] == "/elsewhere"
    # A relative project_dir is under the base directory, as apispec.Parse makes it for the CLI.
    local.deploy({"name": "a", "project_dir": "sub/../api"}, project_dir=str(proj))
    assert json.loads(server.requests[-1]["body"])["apis"][0]["project_dir"] == str(proj / "api")


def test_deploy_sends_projects_only_to_clusters(server, local, tmp_path):
    # The rule of the Go CLI's projectsFor (its table test): /v1/info is asked only when a handler
    # runs project code, and the project goes only to an operator that is not local.
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "handler.py").write_text("class Handler: pass\n")
    py = {"name": "py", "kind": "RealtimeAPI", "handler": {"type": "python", "path": "handler.py"}}
    cmd = {"name": "cmd", "kind": "RealtimeAPI", "handler": {"type": "command", "command": ["./run"]}}
    web = {"name": "web", "kind": "RealtimeAPI", "handler": {"type": "container", "image": "nginx"}}
    server.json("POST", "/v1/apis", 200, {"results": []})
    for provider, specs, sent, infos in (
        ("local", [py], False, 1),
        ("aws", [py, cmd, web], True, 1),
        ("kubernetes", [web], False, 0),  # nothing runs the project: not even asked
    ):
        server.json("GET", "/v1/info", 200, dict(INFO, cluster=dict(INFO["cluster"], provider=provider)))
        server.requests.clear()
        local.deploy(specs, project_dir=str(proj))
        body = json.loads(server.requests[-1]["body"])
        assert ("projects" in body) == sent, provider
        assert len([r for r in server.requests if r["path"] == "/v1/info"]) == infos, provider
        if sent:
            assert list(body["projects"]) == [str(proj)]  # one upload for the two APIs of the directory
            up = body["projects"][str(proj)]
            assert [f["path"] for f in up["files"]] == ["handler.py"] and len(up["hash"]) == 64


def test_api_methods(server, local):
    server.json("GET", "/v1/apis", 200, {"apis": [{"name": "echo"}]})
    server.json("GET", "/v1/apis/echo", 200, {"name": "echo", "endpoint": server.url + "/echo"})
    server.json("DELETE", "/v1/apis/echo", 200, {"name": "echo", "deleted": True})
    server.routes[("GET", "/v1/apis/echo/logs")] = lambda req: (200, {"Content-Type": "text/plain"}, b"line 1\nline 2\n")
    assert local.list_apis() == [{"name": "echo"}]
    assert local.get_api("echo")["name"] == "echo"
    assert local.logs("echo") == "line 1\nline 2\n"
    assert server.requests[-1]["query"] == "follow=false"
    assert list(local.logs("echo", follow=True)) == ["line 1", "line 2"]
    assert server.requests[-1]["query"] == "follow=true"
    local.delete_api("echo")
    assert server.requests[-1]["method"] == "DELETE"
    with pytest.raises(cortex.NotFoundError):
        local.get_api("missing")
    with pytest.raises(ValueError):
        local.get_api("../v1/access")


def test_access_methods(server, local):
    server.json("GET", "/v1/access", 200, {"mode": "rules", "creator_arn": "arn:x", "rules": []})
    server.json("PUT", "/v1/access", 200, {"principal": "arn:aws:iam::1:user/b", "role": "read"})
    server.json("DELETE", "/v1/access", 200, {})
    assert local.get_access()["mode"] == "rules"
    local.grant("arn:aws:iam::123456789012:user/bob", "read")
    assert json.loads(server.requests[-1]["body"]) == {"principal": "arn:aws:iam::123456789012:user/bob", "role": "read"}
    local.revoke("arn:aws:iam::123456789012:role/a b+c")
    assert server.requests[-1]["query"] == "principal=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa%20b%2Bc"
    with pytest.raises(ValueError):
        local.grant("arn:x", "owner")


def test_call_verifies_tls_and_maps_errors(server, local):
    server.json("GET", "/v1/apis/echo", 200, {"name": "echo", "endpoint": server.url + "/echo"})
    server.routes[("POST", "/echo")] = lambda req: (200, {"Content-Type": "application/json"}, req["body"])
    assert local.call("echo", {"x": [1, 2]}) == {"x": [1, 2]}
    assert "Authorization" not in server.requests[-1]["headers"]  # the operator credential stays with the operator
    server.routes[("POST", "/echo")] = lambda req: (500, {"Content-Type": "text/plain"}, b"boom")
    with pytest.raises(cortex.APICallError) as ei:
        local.call("echo", {"x": 1})
    assert ei.value.status == 500 and "boom" in ei.value.body
    # An API that takes keys gets the key given (or $CORTEX_API_KEY), and nothing else.
    server.json("GET", "/v1/apis/keyed", 200, {"name": "keyed", "endpoint": server.url + "/echo", "auth": {"type": "api_key"}})
    server.routes[("POST", "/echo")] = lambda req: (200, {"Content-Type": "application/json"}, b"{}")
    local.call("keyed", {}, api_key="cxk_0123456789abcdef_" + "A" * 43)
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer cxk_0123456789abcdef_" + "A" * 43
    os.environ.pop("CORTEX_API_KEY", None)
    with pytest.raises(cortex.CredentialsError, match="API key"):
        local.call("keyed", {})
    # An iam API on a local environment gets the local admin credential; auth none gets nothing.
    server.json("GET", "/v1/apis/members", 200, {"name": "members", "endpoint": server.url + "/echo", "auth": {"type": "iam"}})
    local.call("members", {})
    assert server.requests[-1]["headers"]["Authorization"].startswith("Bearer cortex-local-v1.")
    server.json("GET", "/v1/apis/open", 200, {"name": "open", "endpoint": server.url + "/echo", "auth": {"type": "none"}})
    local.call("open", {}, api_key="cxk_0123456789abcdef_" + "A" * 43)
    assert "Authorization" not in server.requests[-1]["headers"]
    server.json("GET", "/v1/apis/plain", 200, {"name": "plain", "endpoint": "http://127.0.0.1:1/plain"})
    with pytest.raises(cortex.CortexError, match="not https"):
        local.call("plain", {})
    server.json("GET", "/v1/apis/new", 200, {"name": "new", "status": "updating"})
    with pytest.raises(cortex.CortexError, match="no endpoint"):
        local.call("new", {})


def test_call_verifies_each_endpoint_as_the_operator_says(server, tmp_path):
    # Two more HTTPS servers, each with its own CA: one stands for a public CA (given to the client
    # as its public bundle), one for a CA nobody trusts. The operator (server, its CA pinned) says
    # which trust an API's endpoint needs.
    (tmp_path / "public").mkdir()
    (tmp_path / "unknown").mkdir()
    public = FakeServer(str(tmp_path / "public"))
    unknown = FakeServer(str(tmp_path / "unknown"))
    try:
        for s in (server, public, unknown):
            s.routes[("POST", "/echo")] = lambda req: (200, {"Content-Type": "application/json"}, b'{"ok": true}')
        c = cortex.client(endpoint=server.url, ca_file=server.ca_file, local_token_file=_token_file(tmp_path),
                          public_ca_bundle=public.ca_file)
        try:
            def status(name, url, tls):
                st = {"name": name, "endpoint": url + "/echo", "auth": {"type": "none"}}
                if tls is not None:
                    st["endpoint_tls"] = tls
                server.json("GET", "/v1/apis/" + name, 200, st)

            status("pub", public.url, "public")
            assert c.call("pub", {}) == {"ok": True}
            status("cluster", server.url, None)  # no endpoint_tls: the pinned cluster CA
            assert c.call("cluster", {}) == {"ok": True}
            for name, url, tls, match in [
                ("pub-unknown", unknown.url, "public", "public roots"),
                ("pub-cluster", server.url, "public", "public roots"),  # never the cluster CA
                ("pinned-public", public.url, None, "TLS verification failed"),  # still pinned
                ("pinned-public2", public.url, "", "TLS verification failed"),
            ]:
                status(name, url, tls)
                with pytest.raises(cortex.TransportError, match=match):
                    c.call(name, {})
            # Fail closed: a value the client does not know is refused before anything is sent.
            status("odd", public.url, "none")
            seen = len(public.requests)
            with pytest.raises(cortex.CortexError, match="unknown to this client"):
                c.call("odd", {})
            assert len(public.requests) == seen
        finally:
            c.close()
    finally:
        public.close()
        unknown.close()


def test_call_does_not_follow_an_apis_redirect(server, tmp_path):
    # The replica chooses its answer and the gateway keeps the caller's Authorization from it; a
    # followed redirect would carry the key on (requests keeps it for the same host; here another
    # path of the same public endpoint). As in cortex call, the 3xx is the answer, and an error:
    # the API's own answer never came.
    (tmp_path / "public").mkdir()
    public = FakeServer(str(tmp_path / "public"))
    try:
        public.routes[("POST", "/steal")] = lambda req: (200, {"Content-Type": "application/json"}, b'{"ok": true}')
        public.routes[("POST", "/echo")] = lambda req: (307, {"Location": public.url + "/steal"}, b"")
        c = cortex.client(endpoint=server.url, ca_file=server.ca_file, local_token_file=_token_file(tmp_path),
                          public_ca_bundle=public.ca_file)
        try:
            server.json("GET", "/v1/apis/r", 200, {"name": "r", "endpoint": public.url + "/echo",
                                                   "endpoint_tls": "public", "auth": {"type": "api_key"}})
            with pytest.raises(cortex.APICallError) as ei:
                c.call("r", {}, api_key="cxk_secret")
            assert ei.value.status == 307
            assert [r["headers"].get("Authorization") for r in public.requests if r["path"] == "/steal"] == []
        finally:
            c.close()
    finally:
        public.close()
