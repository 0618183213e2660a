"""Opt-in download of the official archives: checksum, resume, extraction.

``fetch(resources, root)`` downloads each :class:`Resource` to ``root/<file>``:

* a partial download is kept as ``<file>.part`` and resumed with an HTTP ``Range`` request
  (a server that answers 200 instead of 206 restarts it from zero);
* the finished file's MD5 is checked against the published one before it is renamed into
  place (a mismatch removes the part file and names both digests); an archive already
  present with the right MD5 is not downloaded again;
* archives (``.zip``, ``.tar``, ``.tar.gz``/``.tgz``, single-file ``.gz``) are extracted
  into a temporary folder inside ``root`` and their top-level entries renamed into
  ``root``, so an interrupted extraction leaves nothing half-written; members with
  absolute paths or ``..`` are refused. ``inner`` archives found inside are extracted too.

Tests run this against a server on 127.0.0.1; nothing in the test suite reaches outside.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipesdfa.util.errors import UserError

__all__ = ["Resource", "OFFICIAL", "fetch", "download", "extract", "md5_file", "resources_from_manifest"]

CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    file: str  # name saved under root
    url: str
    md5: str | None  # published checksum (None: none published; the computed one is printed)
    extract: bool = True
    inner: tuple[str, ...] = ()  # archives inside the archive, extracted in turn
    note: str = ""


#: The official sources (URLs and MD5 as used by tonic 1.x; DATASETS.md). DVS Gesture is
#: published only through IBM's box folder (manual download).
OFFICIAL: dict[str, list[Resource]] = {
    "nmnist": [
        Resource("train.zip", "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
                 "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded", "20959b8e626244a1b502305a9e6e2031"),
        Resource("test.zip", "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
                 "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded", "69ca8762b2fe404d9b9bad1103e97832"),
    ],
    "ncaltech101": [
        Resource("N-Caltech101-archive.zip", "https://data.mendeley.com/public-files/datasets/cy6cvx3ryv/files/"
                 "36b5c52a-b49d-4853-addb-a836a8883e49/file_downloaded", "66201824eabb0239c7ab992480b50ba3",
                 inner=("Caltech101.zip",)),
    ],
    "shd": [
        Resource("shd_train.h5.zip", "https://zenkelab.org/datasets/shd_train.h5.zip",
                 "f3252aeb598ac776c1b526422d90eecb"),
        Resource("shd_test.h5.zip", "https://zenkelab.org/datasets/shd_test.h5.zip",
                 "1503a5064faa34311c398fb0a1ed0a6f"),
    ],
    "braille": [
        Resource("reading_braille_data.zip",
                 "https://zenodo.org/records/7050094/files/reading_braille_data.zip?download=1", None,
                 note="no MD5 recorded here; compare the printed one with the Zenodo record"),
    ],
    "dvsgesture": [],
}

MANUAL = {
    "dvsgesture": "DVS128 Gesture is published only through IBM's box folder (research.ibm.com/dvsgesture): "
                  "download DvsGesture.tar.gz (md5 8a5c71fb11e24e5ca5b11866ca6c00a1) by hand and extract it "
                  "into ROOT, or pass --manifest with a mirror",
}


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(res: Resource, root: Path, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download (or resume) ``res`` to ``root/res.file`` and verify its MD5."""
    from tqdm import tqdm

    final = root / res.file
    if final.is_file() and (res.md5 is None or md5_file(final) == res.md5):
        return final
    part = root / (res.file + ".part")
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(res.url, headers={"User-Agent": "pipesdfa-fetch"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
            resp = None
        else:
            raise UserError(f"download of {res.url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"download of {res.url} failed: {getattr(exc, 'reason', exc)}") from None
    if resp is not None:
        with resp:
            status = getattr(resp, "status", 200)
            mode = "ab" if (have and status == 206) else "wb"
            if mode == "wb":
                have = 0
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with open(part, mode) as fh, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                               desc=res.file, disable=not progress, leave=False) as bar:
                try:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        fh.write(block)
                        bar.update(len(block))
                    short = total is not None and fh.tell() < total
                    reason = f"connection closed at {fh.tell()} of {total} bytes"
                except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
                    short, reason = True, f"{type(exc).__name__} after {fh.tell()} bytes"
                if short:
                    raise UserError(f"download of {res.url} interrupted ({reason}); "
                                    f"run the same command again to resume from {part}")
    got = md5_file(part)
    if res.md5 is not None and got != res.md5:
        part.unlink()
        raise UserError(f"{final}: MD5 {got} does not match the published {res.md5}; the download was removed")
    os.replace(part, final)
    return final


def _safe_name(name: str, archive: Path) -> str:
    p = Path(name)
    if p.is_absolute() or ".." in p.parts:
        raise UserError(f"{archive}: member {name!r} would be written outside the target folder; refusing")
    return name


def _extract_into(archive: Path, dest: Path) -> None:
    name = archive.name.lower()
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(archive) as z:
                for m in z.namelist():
                    _safe_name(m, archive)
                z.extractall(dest)
        except zipfile.BadZipFile as exc:
            raise UserError(f"{archive}: not a valid zip archive ({exc})") from None
    elif name.endswith((".tar", ".tar.gz", ".tgz")):
        try:
            with tarfile.open(archive) as t:
                for m in t.getmembers():
                    _safe_name(m.name, archive)
                    if m.issym() or m.islnk():
                        raise UserError(f"{archive}: member {m.name!r} is a link; refusing")
                t.extractall(dest)
        except tarfile.TarError as exc:
            raise UserError(f"{archive}: not a valid tar archive ({exc})") from None
    elif name.endswith(".gz"):
        try:
            with gzip.open(archive, "rb") as src, open(dest / archive.name[:-3], "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
        except (OSError, EOFError) as exc:
            raise UserError(f"{archive}: not a valid gzip file ({exc})") from None
    else:
        raise UserError(f"{archive}: unknown archive type (expected .zip, .tar, .tar.gz, .tgz or .gz)")


def extract(archive: Path, root: Path, inner: tuple[str, ...] = ()) -> list[Path]:
    """Extract ``archive`` (then any ``inner`` archives found in it) into ``root``; returns the
    top-level paths created. Entries already present in ``root`` are left as they are."""
    tmp = Path(tempfile.mkdtemp(prefix=f".extract-{archive.name}.", dir=root))
    try:
        _extract_into(archive, tmp)
        for name in inner:
            found = sorted(tmp.rglob(name))
            if not found:
                raise UserError(f"{archive}: expected an inner archive {name!r}, not found")
            for f in found:
                _extract_into(f, f.parent)
                f.unlink()
        made = []
        for entry in sorted(tmp.iterdir()):
            target = root / entry.name
            if not target.exists():
                os.replace(entry, target)
                made.append(target)
        return made
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch(resources: list[Resource], root: Path, progress: bool = True, keep_archives: bool = True,
          log: Callable[[str], None] = print) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    made = []
    for res in resources:
        path = download(res, root, progress=progress)
        digest = res.md5 or md5_file(path)
        log(f"{path.name}: md5 {digest} {'verified' if res.md5 else '(no published checksum to compare)'}")
        if res.extract:
            made += extract(path, root, res.inner)
            if not keep_archives:
                path.unlink()
    return made


def resources_from_manifest(path: Path) -> list[Resource]:
    """Resources from a JSON file ``{"resources": [{"file", "url", "md5", "extract", "inner"}]}``
    (a mirror, or a test server)."""
    import json

    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read manifest {path}: {exc}") from None
    items = obj.get("resources") if isinstance(obj, dict) else None
    if not isinstance(items, list) or not items:
        raise UserError(f"{path}: expected a JSON object with a non-empty list 'resources'")
    out = []
    for i, r in enumerate(items):
        if not isinstance(r, dict) or not isinstance(r.get("file"), str) or not isinstance(r.get("url"), str):
            raise UserError(f"{path}: resources[{i}] needs string fields 'file' and 'url'")
        if "/" in r["file"] or r["file"] in ("", ".", ".."):
            raise UserError(f"{path}: resources[{i}].file must be a plain file name, got {r['file']!r}")
        out.append(Resource(r["file"], r["url"], r.get("md5"), bool(r.get("extract", True)),
                            tuple(r.get("inner", ()))))
    return out
