"""Deploying a python API to a cluster: the real operator, provider kubernetes (the one provider
whose operator takes the project's code with the deploy), on a real control plane started by the
Go helper python/tests/kubehelper (internal/testutil/kubetest: etcd, kube-apiserver,
controller-manager, scheduler, kwok). The operator verifies the upload (bundle.Verify) and stores
it in a ConfigMap; the test reads that ConfigMap from the API server and compares it with the
project's files. A project that must not leave this machine is refused before anything is sent.

Cost: the control plane starts in about 10 s and takes about 500 MB while the module runs; the
module is skipped in quick mode and when the Kubernetes test binaries are not built (outside CI)."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import shutil
import subprocess
from typing import Any, Dict, Iterator, Tuple

import pytest
import requests
import yaml

import cortex
from conftest import QUICK, REPO, free_port, stop, wait_until
from cortex import BadRequestError, ProjectError

pytestmark = pytest.mark.skipif(QUICK, reason="real control plane: skipped in quick mode (CORTEX_TEST_QUICK=1)")


class Kube:
    """The admin client of the control plane's API server (from the helper's kubeconfig)."""

    def __init__(self, kubeconfig: str, tmp: str) -> None:
        with open(kubeconfig) as f:
            cfg = yaml.safe_load(f)
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.server = cluster["server"]
        self.ca = os.path.join(tmp, "kube-ca.pem")
        cert, key = os.path.join(tmp, "kube-admin.pem"), os.path.join(tmp, "kube-admin-key.pem")
        for path, b64 in ((self.ca, cluster["certificate-authority-data"]), (cert, user["client-certificate-data"]),
                          (key, user["client-key-data"])):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64decode(b64))
        self.cert = (cert, key)

    def get(self, path: str) -> Dict[str, Any]:
        r = requests.get(self.server + path, verify=self.ca, cert=self.cert, timeout=30)
        r.raise_for_status()
        out: Dict[str, Any] = r.json()
        return out


@pytest.fixture(scope="module")
def kube(tmp_path_factory) -> Iterator[Kube]:
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not on PATH (scripts/setup.sh)")
    d = tmp_path_factory.mktemp("kubehelper")
    helper = str(d / "kubehelper.test")
    r = subprocess.run([go, "test", "-c", "-o", helper, "./python/tests/kubehelper"], cwd=REPO, capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.fail(f"go test -c ./python/tests/kubehelper failed:\n{r.stderr[-4000:]}")
    # Run the compiled test directly, so that its parent is this process (it stops when pytest is gone).
    log = str(d / "kubehelper.log")
    env = dict(os.environ, CORTEX_PYTEST_KUBE_DIR=str(d))
    with open(log, "wb") as out:
        proc = subprocess.Popen([helper, "-test.run", "^TestServeControlPlane$", "-test.v"], cwd=os.path.join(
            REPO, "python", "tests", "kubehelper"), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    kubeconfig = str(d / "kubeconfig")
    try:
        try:
            wait_until(lambda: os.path.exists(kubeconfig), "control plane", timeout=180, proc=proc, log=log)
        except RuntimeError:
            with open(log, errors="replace") as f:
                text = f.read()
            if "--- SKIP" in text and os.environ.get("CI") != "true":
                pytest.skip("the Kubernetes test binaries are not built (scripts/k8s-bins.sh)")
            raise
        with open(kubeconfig) as f:
            path = f.read().strip()
        yield Kube(path, str(d))
    finally:
        open(str(d / "stop"), "w").close()
        try:
            proc.wait(timeout=60)  # the helper stops the control plane (t.Cleanup) and exits
        except subprocess.TimeoutExpired:
            stop(proc)


def _tls_pair(d: str) -> Tuple[str, str, str]:
    """A CA and a server certificate for 127.0.0.1 (provider kubernetes needs its own TLS files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pytest kube CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (os.path.join(d, "ca.pem"), os.path.join(d, "tls.crt"), os.path.join(d, "tls.key"))
    blobs = (ca.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.PEM),
             key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()))
    for p, b in zip(paths, blobs):
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(b)
    return paths


@pytest.fixture(scope="module")
def kube_operator(kube, cortex_bin, tmp_path_factory) -> Iterator[cortex.Client]:
    d = str(tmp_path_factory.mktemp("kubeop"))
    ca, crt, key = _tls_pair(d)
    token = os.path.join(d, "local.token")
    port = free_port()
    kubeconfig_path = os.path.join(d, "kubeconfig")
    # The helper's kubeconfig names the admin credential files of the control plane's directory;
    # the operator gets its own copy of the file.
    with open(kubeconfig_path, "w") as f:
        f.write(_kubeconfig_text(kube))
    os.chmod(kubeconfig_path, 0o600)
    log = os.path.join(d, "operator.log")
    args = [cortex_bin, "operator", "serve", "--provider", "kubernetes", "--kubeconfig", kubeconfig_path,
            "--namespace", "cortex", "--apis-namespace", "cortex-apis", "--api-image", "cortex/runtime:pytest",
            "--tls-cert-file", crt, "--tls-key-file", key, "--local-token-file", token,
            "--state-dir", os.path.join(d, "state"), "--listen", f"127.0.0.1:{port}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("CORTEX_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=d)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(url + "/healthz", verify=ca, timeout=2).ok, "operator", timeout=120,
                   proc=proc, log=log)
        with cortex.client(endpoint=url, ca_file=ca, local_token_file=token) as c:
            assert c.info()["cluster"]["provider"] == "kubernetes"
            yield c
    finally:
        stop(proc)


def _kubeconfig_text(kube: Kube) -> str:
    def b64(p: str) -> str:
        with open(p, "rb") as f:
            return base64.b64encode(f.read()).decode("ascii")

    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "k",
        "clusters": [{"name": "k", "cluster": {"server": kube.server, "certificate-authority-data": b64(kube.ca)}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": b64(kube.cert[0]),
                                             "client-key-data": b64(kube.cert[1])}}],
        "contexts": [{"name": "k", "context": {"cluster": "k", "user": "admin"}}],
    })


def _project(root: str) -> Dict[str, Tuple[bytes, bool]]:
    files = {
        "handler.py": (b"class Handler:\n    def __init__(self, config):\n        pass\n\n"
                       b"    def handle_post(self, payload):\n        return payload\n", False),
        "lib/util.py": (b"X = 1\n", False),
        "data/table.bin": (bytes(range(256)) * 64, False),
        "bin/start.sh": (b"#!/bin/sh\n", True),
    }
    for rel, (data, exe) in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o755 if exe else 0o644)
    os.makedirs(os.path.join(root, "__pycache__"))
    with open(os.path.join(root, "__pycache__", "handler.cpython-311.pyc"), "wb") as f:
        f.write(b"not shipped")
    with open(os.path.join(root, "cortex.yaml"), "w") as f:
        f.write("- name: pyup\n  kind: RealtimeAPI\n  handler:\n    type: python\n    path: handler.py\n")
    files["cortex.yaml"] = (open(os.path.join(root, "cortex.yaml"), "rb").read(), False)
    return files


def test_python_api_code_reaches_the_cluster(kube_operator, kube, tmp_path):
    c = kube_operator
    proj = str(tmp_path / "proj")
    want = _project(proj)
    assert c.deploy(os.path.join(proj, "cortex.yaml")) == [{"name": "pyup", "action": "created"}]

    cms = kube.get("/api/v1/namespaces/cortex-apis/configmaps?labelSelector=" +
                   requests.utils.quote("cortex.dev/api=pyup"))["items"]
    code = [cm for cm in cms if cm["metadata"]["name"].startswith("pyup-code-")]
    assert len(code) == 1, [cm["metadata"]["name"] for cm in cms]
    cm = code[0]
    index = json.loads(cm["data"]["cortex-index.json"])
    got = {e["path"]: (base64.b64decode(cm["binaryData"][e["key"]]), bool(e.get("exec"))) for e in index}
    assert got == want
    # The hash the operator stored is the one the Go CLI computes for the same directory.
    from cortex.bundle import read_project

    assert cm["metadata"]["annotations"]["cortex.dev/code-hash"] == read_project(proj).hash

    # Deploying the same directory again changes nothing; one changed byte is a new version.
    assert c.deploy(os.path.join(proj, "cortex.yaml")) == [{"name": "pyup", "action": "unchanged"}]
    with open(os.path.join(proj, "lib", "util.py"), "ab") as f:
        f.write(b"Y = 2\n")
    assert c.deploy(os.path.join(proj, "cortex.yaml")) == [{"name": "pyup", "action": "updated"}]
    c.delete_api("pyup")


def test_link_out_of_the_project_is_refused_and_nothing_is_sent(kube_operator, kube, tmp_path):
    c = kube_operator
    secret = tmp_path / "home" / ".aws" / "credentials"
    secret.parent.mkdir(parents=True)
    secret.write_text("[default]\naws_secret_access_key = s3cr3t\n")
    proj = str(tmp_path / "proj")
    _project(proj)
    os.symlink(str(secret), os.path.join(proj, "settings.ini"))
    with pytest.raises(ProjectError) as e:
        c.deploy(os.path.join(proj, "cortex.yaml"))
    assert str(e.value).startswith("api pyup: ") and "outside the project directory" in str(e.value)
    assert "s3cr3t" not in str(e.value)
    assert [a["name"] for a in c.list_apis()] == []
    cms = kube.get("/api/v1/namespaces/cortex-apis/configmaps")["items"]
    assert not any("s3cr3t" in json.dumps(cm) for cm in cms)


def test_too_large_project_is_refused_before_sending(kube_operator, tmp_path):
    proj = str(tmp_path / "proj")
    _project(proj)
    with open(os.path.join(proj, "data", "model.bin"), "wb") as f:
        f.write(b"\0" * (1 << 20))
    with pytest.raises(ProjectError, match="at most 1 MiB"):
        kube_operator.deploy(os.path.join(proj, "cortex.yaml"))
    assert kube_operator.list_apis() == []


def test_container_api_sends_no_project(kube_operator, tmp_path):
    # Nothing of the project is read for a container handler: a project with a link out of it
    # deploys, because its files are never sent.
    proj = str(tmp_path / "proj")
    os.makedirs(proj)
    os.symlink("/etc/passwd", os.path.join(proj, "passwd"))
    spec = {"name": "web", "kind": "RealtimeAPI", "handler": {"type": "container", "image": "nginx", "port": 80}}
    assert kube_operator.deploy(spec, project_dir=proj) == [{"name": "web", "action": "created"}]
    kube_operator.delete_api("web")


def test_operator_refuses_a_deploy_without_the_code(kube_operator, tmp_path):
    # What the client fixes: without the upload the operator answers 400.
    proj = str(tmp_path / "proj")
    _project(proj)
    spec = {"name": "nocode", "kind": "RealtimeAPI", "project_dir": proj,
            "handler": {"type": "python", "path": "handler.py"}}
    with pytest.raises(BadRequestError, match="did not come with the deploy"):
        kube_operator._request("POST", "/v1/apis", body={"apis": [spec]})
