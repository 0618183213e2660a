"""`pipesdfa data fetch` against a local HTTP server on 127.0.0.1 (never the network), and
`pipesdfa data info`."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from pipesdfa.cli.main import main
from pipesdfa.data.fetch import Resource, download, extract, fetch, resources_from_manifest
from _writers import random_events, write_nmnist_tree
from pipesdfa.util.errors import UserError


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None]] = []
    honour_range = True
    cut_after: int | None = None  # drop the connection after this many bytes

    def do_GET(self):  # noqa: N802
        body = self.files.get(self.path)
        rng = self.headers.get("Range")
        type(self).log.append((self.path, rng))
        if body is None:
            self.send_error(404)
            return
        start = 0
        if rng and self.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if self.cut_after is not None:
            self.wfile.write(chunk[: self.cut_after])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(chunk)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("H", (_Handler,), {"files": {}, "log": [], "honour_range": True, "cut_after": None})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _nmnist_zip(tmp_path, split):
    src = tmp_path / f"src_{split}"
    write_nmnist_tree(src, {split: [(d, random_events(20, (34, 34, 2), 10_000, d)) for d in range(10)]})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(src.rglob("*.bin")):
            z.write(f, f.relative_to(src).as_posix())
    return buf.getvalue()


def test_download_resume_and_checksum(server, tmp_path):
    handler, base = server
    blob = bytes(np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8))
    handler.files["/a.bin"] = blob
    md5 = hashlib.md5(blob).hexdigest()
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.bin.part").write_bytes(blob[:123_456])  # a previous, interrupted download
    path = download(Resource("a.bin", base + "/a.bin", md5, extract=False), root, progress=False)
    assert path.read_bytes() == blob and handler.log[-1] == ("/a.bin", "bytes=123456-")
    assert not (root / "a.bin.part").exists()
    # already present and verified: no request
    n = len(handler.log)
    download(Resource("a.bin", base + "/a.bin", md5, extract=False), root, progress=False)
    assert len(handler.log) == n


def test_server_without_range_restarts(server, tmp_path):
    handler, base = server
    handler.honour_range = False
    blob = b"0123456789" * 1000
    handler.files["/b"] = blob
    (tmp_path / "b.part").write_bytes(b"XXXX")
    download(Resource("b", base + "/b", hashlib.md5(blob).hexdigest(), extract=False), tmp_path, progress=False)
    assert (tmp_path / "b").read_bytes() == blob


def test_interrupted_then_resumed(server, tmp_path):
    handler, base = server
    blob = bytes(range(256)) * 400
    handler.files["/c"] = blob
    res = Resource("c", base + "/c", hashlib.md5(blob).hexdigest(), extract=False)
    handler.cut_after = 50_000
    with pytest.raises(UserError):
        download(res, tmp_path, progress=False)
    assert 0 < (tmp_path / "c.part").stat().st_size <= 50_000 and not (tmp_path / "c").exists()
    handler.cut_after = None
    download(res, tmp_path, progress=False)
    assert (tmp_path / "c").read_bytes() == blob


def test_checksum_mismatch_removes_download(server, tmp_path):
    handler, base = server
    handler.files["/d.zip"] = b"not what was published"
    with pytest.raises(UserError, match=r"d\.zip: MD5 [0-9a-f]{32} does not match the published 0{32}"):
        download(Resource("d.zip", base + "/d.zip", "0" * 32), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_error_named(server, tmp_path):
    _, base = server
    with pytest.raises(UserError, match="HTTP 404"):
        download(Resource("e", base + "/missing", None), tmp_path, progress=False)


def test_extract_refuses_traversal(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../evil.txt", "x")
    arch = tmp_path / "bad.zip"
    arch.write_bytes(buf.getvalue())
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match="outside the target folder"):
        extract(arch, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_inner_archive(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("Caltech101/airplanes/image_0001.bin", b"")
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("N-Caltech101/Caltech101.zip", inner.getvalue())
    arch = tmp_path / "N-Caltech101-archive.zip"
    arch.write_bytes(outer.getvalue())
    root = tmp_path / "root"
    root.mkdir()
    extract(arch, root, inner=("Caltech101.zip",))
    assert (root / "N-Caltech101" / "Caltech101" / "airplanes" / "image_0001.bin").is_file()


def test_cli_fetch_then_info(server, tmp_path, capsys):
    handler, base = server
    res = []
    for split in ("Train", "Test"):
        blob = _nmnist_zip(tmp_path, split)
        handler.files[f"/{split.lower()}.zip"] = blob
        res.append({"file": f"{split.lower()}.zip", "url": f"{base}/{split.lower()}.zip",
                    "md5": hashlib.md5(blob).hexdigest()})
    manifest = tmp_path / "mirror.json"
    manifest.write_text(json.dumps({"resources": res}))
    root = tmp_path / "NMNIST"
    assert main(["data", "fetch", "nmnist", "--to", str(root), "--manifest", str(manifest), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "verified" in out and "train 10 samples, test 10 samples" in out
    assert main(["data", "info", "nmnist", "--data-dir", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sensor_size"] == [34, 34, 2]
    assert info["splits"]["train"] == {"samples": 10, "events": 200, "t_max_us": info["splits"]["train"]["t_max_us"],
                                       "classes": {str(d): 1 for d in range(10)}}
    assert 0 < info["splits"]["test"]["t_max_us"] < 10_000


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "info", "shd", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shd_train.h5" in err and err.startswith("pipesdfa: error:")
    assert main(["data", "fetch", "dvsgesture", "--to", str(tmp_path / "x")]) == 2
    assert "IBM" in capsys.readouterr().err
    (tmp_path / "m.json").write_text('{"resources": [{"file": "../x", "url": "http://127.0.0.1:1/"}]}')
    assert main(["data", "fetch", "nmnist", "--to", str(tmp_path / "y"), "--manifest", str(tmp_path / "m.json")]) == 2
    assert "plain file name" in capsys.readouterr().err


def test_manifest_parsing(tmp_path):
    (tmp_path / "m.json").write_text('{"resources": [{"file": "a.zip", "url": "http://127.0.0.1/a", "inner": ["b.zip"]}]}')
    (r,) = resources_from_manifest(tmp_path / "m.json")
    assert r.md5 is None and r.inner == ("b.zip",) and r.extract


def test_fetch_without_checksum_prints_digest(server, tmp_path):
    handler, base = server
    handler.files["/r.bin"] = b"abc"
    lines = []
    fetch([Resource("r.bin", base + "/r.bin", None, extract=False)], tmp_path, progress=False, log=lines.append)
    assert lines == [f"r.bin: md5 {hashlib.md5(b'abc').hexdigest()} (no published checksum to compare)"]


def test_info_digits_embedded(capsys):
    assert main(["data", "info", "digits", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sensor_size"] == [12, 12, 2] and info["root"] is None
    assert info["splits"]["train"]["samples"] == 1437 and info["splits"]["test"]["samples"] == 360
    assert sum(info["splits"]["test"]["classes"].values()) == 360 and info["splits"]["train"]["events"] > 0


def test_info_real_needs_data_dir(capsys):
    assert main(["data", "info", "braille"]) == 2
    assert "--data-dir" in capsys.readouterr().err
