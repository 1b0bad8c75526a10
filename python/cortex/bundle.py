"""The project directory a deploy sends to a cluster, with the Go CLI's rules (internal/bundle:
``Read`` and ``Verify``).

A cluster's operator is not on this machine (any provider but local), so a ``python`` or
``command`` API's code travels with the deploy: the files of its project directory, their
executable bits and a content hash, which the operator verifies and stores in a Kubernetes
ConfigMap (at most 1 MiB). Everything the operator would refuse is refused here first, before
anything is sent, and so is what it could not see: a symbolic link to a file outside the project
(``settings.ini -> ~/.aws/credentials``) must not ship the deployer's own files.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import unicodedata
from dataclasses import dataclass
from typing import Any, Dict, List, Set

from .errors import ProjectError

__all__ = ["Upload", "read_project", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_FILES"]

# The limits of internal/bundle/upload.go: a ConfigMap's keys and values together stay under 1 MiB.
MAX_UPLOAD_BYTES = (1 << 20) - (16 << 10)
MAX_UPLOAD_FILES = 1000
MAX_UPLOAD_PATH_LEN = 1024
MAX_UPLOAD_PATH_BYTES = 64 << 10

# Never shipped (internal/bundle/bundle.go skipDirs, skipFile): version control, caches and
# virtual environments.
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".venv", "venv",
     "node_modules"}
)


def _skip_file(name: str) -> bool:
    return name.endswith(".pyc") or name == ".DS_Store"


@dataclass(frozen=True)
class _File:
    rel: str  # slash-separated, relative to the project directory
    abs: str
    exec: bool


@dataclass(frozen=True)
class Upload:
    """One project directory as the operator receives it: files in path order and their hash."""

    hash: str
    files: List[Dict[str, Any]]  # {"path", "exec" (only when true), "data" (bytes)}

    def total_bytes(self) -> int:
        return sum(len(f["data"]) for f in self.files)

    def to_json(self) -> Dict[str, Any]:
        """The JSON of a Go bundle.Upload (``data`` in standard base64, ``exec`` omitted when false)."""
        out: List[Dict[str, Any]] = []
        for f in self.files:
            j: Dict[str, Any] = {"path": f["path"], "data": base64.b64encode(f["data"]).decode("ascii")}
            if f.get("exec"):
                j["exec"] = True
            out.append(j)
        return {"hash": self.hash, "files": out}


def read_project(src: str) -> Upload:
    """Read what the project directory ``src`` ships, refusing (:class:`ProjectError`) a project the
    operator would refuse or that links out of itself. Nothing is sent by this function."""
    src = os.path.abspath(src)
    if not os.path.isdir(src):
        raise ProjectError(f"{src}: the project directory does not exist or is not a directory")
    files = _list(src)
    _inside_project(src, files)
    out: List[Dict[str, Any]] = []
    h = hashlib.sha256()
    total = 0
    for f in files:
        data = _read_limited(src, f, MAX_UPLOAD_BYTES - total)
        total += len(data)
        out.append({"path": f.rel, "exec": f.exec, "data": data})
        _write_entry(h, f.rel, f.exec, data)
    u = Upload(h.hexdigest(), out)
    # The operator's rules, here first: a file name the cluster would refuse fails now.
    try:
        verify(u)
    except ProjectError as e:
        raise ProjectError(f"{src}: {e}") from None
    return u


def _list(src: str) -> List[_File]:
    """The files ``src`` ships, in path order: the walk of bundle.list (symbolic links to files are
    followed, to directories not; dangling links and non-regular files ship nothing)."""
    files: List[_File] = []

    def walk(d: str, prefix: str) -> None:
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as err:
            raise ProjectError(f"{src}: cannot read {d}: {err.strerror}") from None
        for e in entries:
            rel = prefix + e.name
            if e.is_dir(follow_symlinks=False):
                if e.name not in _SKIP_DIRS:
                    walk(e.path, rel + "/")
                continue
            if _skip_file(e.name):
                continue
            try:
                st = os.stat(e.path)  # follows a symbolic link
            except OSError as err:
                if e.is_symlink():
                    continue  # a dangling link ships nothing
                raise ProjectError(f"{src}: {rel}: {err.strerror}") from None
            if not stat.S_ISREG(st.st_mode):
                continue
            files.append(_File(rel, e.path, bool(st.st_mode & 0o111)))
            if len(files) > MAX_UPLOAD_FILES:
                raise ProjectError(
                    f"{src} has more than {MAX_UPLOAD_FILES} files; a deploy to a cluster carries at most "
                    f"{MAX_UPLOAD_FILES} (the code is stored in a Kubernetes ConfigMap): keep data and "
                    "dependencies out of the project directory"
                )

    walk(src, "")
    files.sort(key=lambda f: os.fsencode(f.rel))
    return files


def _outside(root: str, real: str) -> bool:
    rel = os.path.relpath(real, root)
    return rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel)


def _inside_project(src: str, files: List[_File]) -> None:
    """Refuse a file that is a symbolic link to (or through) a place outside ``src`` (bundle's
    insideProject): an upload leaves this machine, so a link in a project someone else wrote must
    not ship the deployer's files. Links within the project are followed."""
    root = os.path.realpath(src)
    for f in files:
        real = os.path.realpath(f.abs)
        if _outside(root, real):
            raise ProjectError(
                f"{src}: {f.rel} is a symbolic link to {real}, outside the project directory; a deploy to a "
                "cluster ships only the project's own files (copy the file in, or remove the link)"
            )


def _read_limited(src: str, f: _File, left: int) -> bytes:
    # O_NONBLOCK: a file swapped for a FIFO after the walk must not hang the deploy. The opened
    # file must be the regular file the walk saw inside the project (same device and inode as its
    # resolved path now), so a link changed after the check above ships nothing.
    try:
        fd = os.open(f.abs, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ProjectError(f"{src}: {f.rel}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        real = os.path.realpath(f.abs)
        try:
            rst = os.stat(real)
        except OSError:
            rst = None
        if (
            not stat.S_ISREG(st.st_mode)
            or rst is None
            or (rst.st_dev, rst.st_ino) != (st.st_dev, st.st_ino)
            or _outside(os.path.realpath(src), real)
        ):
            raise ProjectError(f"{src}: {f.rel} changed while it was read; deploy again")
        data = fh.read(left + 1)
    if len(data) > left:
        raise ProjectError(
            f"{src} holds more than {MAX_UPLOAD_BYTES} bytes ({f.rel}: the limit is reached at this file); a "
            "deploy to a cluster carries at most 1 MiB of code, because it is stored in a Kubernetes "
            "ConfigMap (limit 1 MiB): keep models and data elsewhere (e.g. S3) and load them in the handler"
        )
    return data


def go_quote(s: str) -> str:
    """Go's strconv.Quote (the %q of the content hash) for a valid UTF-8 string: printable runes
    (Unicode letters, marks, numbers, punctuation, symbols and the ASCII space) as they are, the
    others escaped."""
    out = ['"']
    short = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    for ch in s:
        c = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == " " or (c >= 0x20 and c != 0x7F and unicodedata.category(ch)[0] in "LMNPS"):
            out.append(ch)
        elif ch in short:
            out.append(short[ch])
        elif c < 0x20 or c == 0x7F:
            out.append("\\x%02x" % c)
        elif c < 0x10000:
            out.append("\\u%04x" % c)
        else:
            out.append("\\U%08x" % c)
    out.append('"')
    return "".join(out)


def _write_entry(h: Any, rel: str, exec_: bool, data: bytes) -> None:
    """One file of the content hash, in bundle.writeEntry's format."""
    mode = "x" if exec_ else "f"
    h.update(f"{mode} {hashlib.sha256(data).hexdigest()} {go_quote(rel)}\n".encode("utf-8"))


def _check_path(p: str) -> None:
    try:
        b = p.encode("utf-8")
    except UnicodeEncodeError:
        raise ProjectError(f"path {p!r} is not UTF-8") from None
    if p == "":
        raise ProjectError("empty path")
    if len(b) > MAX_UPLOAD_PATH_LEN:
        raise ProjectError(f"path longer than {MAX_UPLOAD_PATH_LEN} bytes")
    if p.startswith("/"):
        raise ProjectError(f"path {p!r} is absolute")
    if "\\" in p:
        raise ProjectError(f"path {p!r} contains a backslash")
    parts = p.split("/")
    if any(part in ("", ".", "..") for part in parts):  # path.Clean(p) != p, for a relative p
        raise ProjectError(f"path {p!r} is not clean")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in p):
        raise ProjectError(f"path {p!r} contains a control character")
    if any(part.startswith("..") for part in parts):
        raise ProjectError(f"path {p!r} has an element starting with \"..\" (Kubernetes' volume internals)")


def verify(u: Upload) -> None:
    """bundle.Verify: what the operator checks before it uses an upload."""
    if not u.files:
        raise ProjectError("no files to send (the project directory is empty)")
    if len(u.files) > MAX_UPLOAD_FILES:
        raise ProjectError(f"{len(u.files)} files, at most {MAX_UPLOAD_FILES}")
    total = paths = 0
    seen: Set[str] = set()
    h = hashlib.sha256()
    prev = b""
    for i, f in enumerate(u.files):
        p = f["path"]
        try:
            _check_path(p)
        except ProjectError as e:
            raise ProjectError(f"file {i + 1}: {e}") from None
        if p in seen:
            raise ProjectError(f"file {p!r}: sent twice")
        seen.add(p)
        b = p.encode("utf-8")
        paths += len(b)
        if paths > MAX_UPLOAD_PATH_BYTES:
            raise ProjectError(f"the file paths take more than {MAX_UPLOAD_PATH_BYTES} bytes together")
        if i > 0 and b < prev:
            raise ProjectError(f"file {p!r}: files must be in path order")
        prev = b
        total += len(f["data"])
        if total > MAX_UPLOAD_BYTES:
            raise ProjectError(
                f"more than {MAX_UPLOAD_BYTES} bytes of code; a cluster stores it in a Kubernetes ConfigMap (limit 1 MiB)"
            )
        _write_entry(h, p, bool(f.get("exec")), f["data"])
    for p in seen:
        d = p.rpartition("/")[0]
        while d:
            if d in seen:
                raise ProjectError(f"file {p!r}: {d!r} is also sent as a file")
            d = d.rpartition("/")[0]
    if h.hexdigest() != u.hash:
        raise ProjectError(f"content hash mismatch: the files hash to {h.hexdigest()[:12]}, not {u.hash}")
