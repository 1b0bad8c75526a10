"""The project upload of a deploy to a cluster (cortex.bundle) against the Go CLI's own
(internal/bundle.Read and Verify, through the helper python/tests/gobundle): for the same project
directory both must send the same bytes and the same hash, and refuse the same projects; every
upload the Python client makes must pass the operator's Verify. Hostile projects (a link out of the
project, too large, names the operator refuses) are refused before anything is sent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any, Callable, Dict

import pytest

from conftest import REPO
from cortex import ProjectError
from cortex.bundle import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES, Upload, go_quote, read_project, verify


@pytest.fixture(scope="session")
def gobundle(tmp_path_factory) -> Callable[..., Dict[str, Any]]:
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not on PATH: the comparison with the Go CLI's upload needs it (scripts/setup.sh)")
    out = str(tmp_path_factory.mktemp("gobundle") / "gobundle")
    r = subprocess.run([go, "build", "-o", out, "./python/tests/gobundle"], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"go build ./python/tests/gobundle failed:\n{r.stderr[-4000:]}")

    def run(*args: str, stdin: str = "") -> Dict[str, Any]:
        p = subprocess.run([out, *args], input=stdin, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        doc: Dict[str, Any] = json.loads(p.stdout)
        return doc

    return run


def write(root, rel: str, data: bytes = b"x", mode: int = 0o644) -> None:
    p = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)


def project(tmp_path):
    """A project with what the walk must get right: nested directories, executable bits, skipped
    directories and files, links within the project (followed to files, not to directories),
    a dangling link, an empty file, and names Go's %q escapes or keeps (quote, NBSP, emoji, accents)."""
    d = tmp_path / "proj"
    write(d, "handler.py", b"class Handler:\n    pass\n")
    write(d, "run.sh", b"#!/bin/sh\nexec python3 server.py\n", 0o755)
    write(d, "pkg/__init__.py", b"")
    write(d, "pkg/model/weights.bin", bytes(range(256)) * 40)
    write(d, "pkg/Zeta.txt", b"upper case sorts first")
    write(d, 'odd/quote"d.txt', b"q")
    write(d, "odd/nbsp\u00a0name.txt", b"nbsp")
    write(d, "odd/caf\u00e9-\U0001f600.txt", b"unicode")
    write(d, "odd/soft\u00adhyphen.txt", b"format character")
    write(d, "a b/space.txt", b"space")
    write(d, ".hidden", b"dotfile")
    write(d, "__pycache__/handler.cpython-311.pyc", b"skipped")
    write(d, ".git/HEAD", b"skipped")
    write(d, "venv/bin/python", b"skipped", 0o755)
    write(d, "node_modules/x/index.js", b"skipped")
    write(d, "pkg/cached.pyc", b"skipped")
    write(d, ".DS_Store", b"skipped")
    os.symlink("handler.py", str(d / "alias.py"))  # a link to a file of the project: its content ships
    os.symlink("pkg", str(d / "pkglink"))  # a link to a directory: not followed
    os.symlink("missing.py", str(d / "dangling.py"))  # ships nothing
    return d


def test_same_upload_as_the_go_cli(tmp_path, gobundle):
    d = project(tmp_path)
    py = read_project(str(d)).to_json()
    go = gobundle(str(d))
    assert "error" not in go, go
    assert [f["path"] for f in py["files"]] == [f["path"] for f in go["upload"]["files"]]
    assert py == go["upload"]
    paths = [f["path"] for f in py["files"]]
    assert "alias.py" in paths and "run.sh" in paths and not any("pyc" in p or "venv" in p for p in paths)
    assert not any(p.startswith("pkglink") or p == "dangling.py" for p in paths)
    assert [f.get("exec", False) for f in py["files"] if f["path"] == "run.sh"] == [True]


def test_project_dir_through_a_link(tmp_path, gobundle):
    # ~/proj -> /data/proj: the project's files ship, from where the link points.
    d = project(tmp_path)
    link = tmp_path / "link"
    os.symlink(str(d), str(link))
    py = read_project(str(link)).to_json()
    assert py == read_project(str(d)).to_json()
    assert gobundle(str(link)) == {"upload": py}


def test_hash_quotes_names_as_go(gobundle):
    # The content hash quotes each path with Go's %q; a name with an escaped rune must hash alike.
    for name in ['a"b', "nbsp\u00a0", "soft\u00adhyphen", "e\u0301", "\U0001f600", "\u2028", "\ufeff", "ok.py"]:
        u = {"hash": "0" * 64, "files": [{"path": name, "data": "eA=="}]}
        got = gobundle("-verify", stdin=json.dumps(u))["error"]
        want = Upload("0" * 64, [{"path": name, "data": b"x"}])
        with pytest.raises(ProjectError) as e:
            verify(want)
        # Both compute the same hash (the mismatch message names the first 12 hex digits).
        assert got.split("hash to ")[1][:12] == str(e.value).split("hash to ")[1][:12], (name, got, e.value)
    assert go_quote('a"b\\c\u00a0') == '"a\\"b\\\\c\\u00a0"'


def test_every_python_upload_passes_the_operators_verify(tmp_path, gobundle):
    u = read_project(str(project(tmp_path))).to_json()
    assert gobundle("-verify", stdin=json.dumps(u)) == {"ok": True}
    u["files"][0]["data"] = "eQ=="  # one byte changed
    assert "content hash mismatch" in gobundle("-verify", stdin=json.dumps(u))["error"]


# -- hostile projects: refused here, and by the Go CLI ----------------------------------------------


def hostile_link_out(tmp_path):
    secret = tmp_path / "home" / ".aws" / "credentials"
    write(tmp_path / "home", ".aws/credentials", b"[default]\naws_secret_access_key = s3cr3t\n")
    d = tmp_path / "proj"
    write(d, "handler.py")
    os.symlink(str(secret), str(d / "settings.ini"))
    return d, "outside the project directory"


def hostile_link_through_dir(tmp_path):
    # A link inside a subdirectory, relative, climbing out of the project.
    write(tmp_path / "other", "id_rsa", b"PRIVATE")
    d = tmp_path / "proj"
    write(d, "handler.py")
    os.makedirs(str(d / "conf"))
    os.symlink("../../other/id_rsa", str(d / "conf" / "key"))
    return d, "outside the project directory"


def hostile_too_large(tmp_path):
    d = tmp_path / "proj"
    write(d, "handler.py")
    write(d, "model.bin", b"\0" * MAX_UPLOAD_BYTES)  # with handler.py, one byte over
    return d, "1 MiB"


def hostile_too_many_files(tmp_path):
    d = tmp_path / "proj"
    for i in range(MAX_UPLOAD_FILES + 1):
        write(d, f"f/{i:04d}.txt", b"")
    return d, f"at most {MAX_UPLOAD_FILES}"


def hostile_dotdot_name(tmp_path):
    # A name Kubernetes' volume internals use ("..data"): the operator refuses it.
    d = tmp_path / "proj"
    write(d, "handler.py")
    write(d, "..data/x.py")
    return d, 'starting with ".."'


def hostile_backslash_name(tmp_path):
    d = tmp_path / "proj"
    write(d, "handler.py")
    write(d, "..\\..\\evil.py")  # one name: a path on Windows
    return d, "backslash"


def hostile_control_name(tmp_path):
    d = tmp_path / "proj"
    write(d, "handler.py")
    write(d, "new\nline.py")
    return d, "control character"


HOSTILE = [
    hostile_link_out,
    hostile_link_through_dir,
    hostile_too_large,
    hostile_too_many_files,
    hostile_dotdot_name,
    hostile_backslash_name,
    hostile_control_name,
]


@pytest.mark.parametrize("make", HOSTILE, ids=lambda f: f.__name__)
def test_hostile_projects_are_refused(make, tmp_path):
    d, why = make(tmp_path)
    with pytest.raises(ProjectError) as e:
        read_project(str(d))
    assert why in str(e.value)
    assert "s3cr3t" not in str(e.value) and "PRIVATE" not in str(e.value)


@pytest.mark.parametrize("make", HOSTILE, ids=lambda f: f.__name__)
def test_go_cli_refuses_the_same_projects(make, tmp_path, gobundle):
    d, _ = make(tmp_path)
    assert "error" in gobundle(str(d))


@pytest.mark.parametrize(
    "path",
    ["../etc/passwd", "/etc/passwd", "a/../../b", "./a", "a//b", "a/", "", "..", "a/..b/c", "a\\b", "x\x7f"],
)
def test_path_traversal_names_are_refused_as_the_operator_does(path, gobundle):
    # Names no directory walk makes; the rules are the operator's (bundle.Verify), here and there.
    import hashlib

    from cortex.bundle import _write_entry

    h = hashlib.sha256()
    _write_entry(h, path, False, b"x")
    u = Upload(h.hexdigest(), [{"path": path, "data": b"x"}])
    with pytest.raises(ProjectError):
        verify(u)
    assert "error" in gobundle("-verify", stdin=json.dumps(u.to_json()))


def test_duplicates_and_file_directory_clash_are_refused(gobundle):
    import hashlib

    from cortex.bundle import _write_entry

    for paths in (["a.py", "a.py"], ["a", "a/b.py"], ["b.py", "a.py"]):
        h = hashlib.sha256()
        for p in paths:
            _write_entry(h, p, False, b"")
        u = Upload(h.hexdigest(), [{"path": p, "data": b""} for p in paths])
        with pytest.raises(ProjectError):
            verify(u)
        assert "error" in gobundle("-verify", stdin=json.dumps(u.to_json())), paths


# -- a project changing while it is read --------------------------------------------------------------


def test_file_swapped_for_a_link_out_after_the_check_sends_nothing(tmp_path):
    # The walk and the link check have passed; then handler.py becomes a link to a secret. The read
    # opens the file and checks it is still the project's own: it refuses instead of sending.
    from cortex.bundle import _inside_project, _list, _read_limited

    d = tmp_path / "proj"
    write(d, "handler.py", b"class Handler: pass\n")
    write(tmp_path, "secret.txt", b"s3cr3t")
    src = str(d)
    files = _list(src)
    _inside_project(src, files)
    os.remove(str(d / "handler.py"))
    os.symlink(str(tmp_path / "secret.txt"), str(d / "handler.py"))
    with pytest.raises(ProjectError, match="changed while it was read"):
        _read_limited(src, files[0], MAX_UPLOAD_BYTES)


def test_fifo_is_skipped_and_a_swap_to_one_does_not_hang(tmp_path):
    from cortex.bundle import _list, _read_limited

    d = tmp_path / "proj"
    write(d, "handler.py")
    os.mkfifo(str(d / "pipe"))
    assert [f["path"] for f in read_project(str(d)).files] == ["handler.py"]
    files = _list(str(d))
    os.remove(str(d / "handler.py"))
    os.mkfifo(str(d / "handler.py"))  # no writer: a blocking open or read would never return
    with pytest.raises(ProjectError, match="changed while it was read"):
        _read_limited(str(d), files[0], MAX_UPLOAD_BYTES)
