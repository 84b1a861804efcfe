"""Real data that a fresh clone does not have: where to find it, and how to fetch it.

The project reads real traces, videos and data sets from the *shared folder* (``$EDGESIM_SHARED``,
else ``shared`` beside the project) and never ships them: their licences differ and several are
large. A user without that folder runs ``edgesim data fetch NAME``, which downloads the files
from their original source (pinned to a commit where the source is a repository), checks each
against its SHA-256 (or the MD5 the publisher gives), and stores them in a user cache laid out
like the shared folder, so ``shared:data/...`` paths in scenarios find them there. Nothing is
downloaded at run time: only this command touches the network, and offline it says so in one
line.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from edgesim.errors import UserError

__all__ = ["SHARED_ENV", "CACHE_ENV", "Source", "SOURCES", "shared_root", "cache_root", "locate",
           "fetch", "status"]

SHARED_ENV = "EDGESIM_SHARED"
CACHE_ENV = "EDGESIM_DATA"


@dataclass(frozen=True)
class File:
    path: str            # under the shared folder, e.g. "data/video/vtest.avi"
    url: str
    sha256: str = ""
    md5: str = ""        # when the publisher gives only an MD5 (CIFAR-10)
    unpack: str = ""     # "tar.gz": an archive, unpacked into path's folder ...
    provides: str = ""   # ... where it yields this path (what a scenario names)


@dataclass(frozen=True)
class Source:
    name: str
    what: str
    licence: str
    files: tuple[File, ...] = field(default_factory=tuple)
    derived: str = ""    # not fetchable byte for byte: how it was made instead


_FEMNIST = "https://media.githubusercontent.com/media/wenzhu23333/Federated-Learning/" \
           "2ccec0f9187da0bd34bb57774b0959e4cbe22dac/data/femnist"
_FEMNIST_SHA = {
    "test/all_data_30_niid_05_keep_0_test_9.json": "e6330fdad92dc80d8ae2cc03073cb3fbd7a350574ac7e38074ce39ab4e654e73",
    "test/all_data_31_niid_05_keep_0_test_9.json": "51d623475aa761d9d5eb662327b57b369010c69562e977ab63c36f8e290013b5",
    "test/all_data_32_niid_05_keep_0_test_9.json": "6665b3c2efe9789317a8e08dbd436cb6ba24f887e12843d9b2dccb2694483058",
    "test/all_data_33_niid_05_keep_0_test_9.json": "e995c8961e1aba47c6b39526df14faa4be7790a5de31560840cbb3693912c885",
    "test/all_data_34_niid_05_keep_0_test_9.json": "15ccb975e804066eeab82f07549993907d1938e1d9ec258cbda1f6f5545cf22e",
    "test/all_data_35_niid_05_keep_0_test_9.json": "46c0cb716e5a78479ce2c77a33f2cb397ca635c1eda6dcdfe094b441a8e3a084",
    "train/all_data_30_niid_05_keep_0_train_9.json": "417c06d2f1c5b4e2321056550560aa30fab137241923d7ce8da0144233ae3bfd",
    "train/all_data_31_niid_05_keep_0_train_9.json": "b8c45c1938a931ca59e8cfabb20365294c94d9c0f0bd0b47827ca1017a964533",
    "train/all_data_32_niid_05_keep_0_train_9.json": "3b45dd888ed17f59f0f0bbe5b91d90a90f9474b0cc1132f022fd6a6516e4bd51",
    "train/all_data_33_niid_05_keep_0_train_9.json": "8ce42808925d9cbc562c43c63b0cb5e75ca0d24223b15cbaa0fc1766d9d26d0f",
    "train/all_data_34_niid_05_keep_0_train_9.json": "593e072a6dbb95bd6183f5f40f67bbf3455e3f1f9bbd4d2d789cbd380abd9125",
    "train/all_data_35_niid_05_keep_0_train_9.json": "14a936b20c851866e57b788296cd4a3fe4c8e0dbebd7001e3deb7bf81671f20b",
}
_MAHIMAHI = "https://raw.githubusercontent.com/ravinet/mahimahi/ae477d43/traces"

#: What `edgesim data fetch` knows. Hashes are of the shared folder's byte-exact copies.
SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("vtest", "OpenCV's sample video: pedestrians, 768x576, 10 fps, 795 frames (8.1 MB)",
           "Apache-2.0 and BSD-3-Clause (OpenCV)",
           (File("data/video/vtest.avi",
                 "https://raw.githubusercontent.com/opencv/opencv/4.x/samples/data/vtest.avi",
                 sha256="45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"),)),
    Source("intel-car-detection", "overhead parking-lot camera, 768x432, 12.5 fps, 377 frames "
           "(2.8 MB)", "CC BY 4.0 (intel-iot-devkit/sample-videos)",
           (File("data/video/intel_car-detection.mp4",
                 "https://github.com/intel-iot-devkit/sample-videos/raw/57978890/car-detection.mp4",
                 sha256="d31e0ebf194cc16e50eea784e7c3b0b1bb7976a4fb9b3fec26cb92a6704cca34"),)),
    Source("femnist", "LEAF FEMNIST, 32 whole writers (4,019 train, 461 test images, 62 "
           "classes; 23.6 MB)", "no licence stated for the files; LEAF BSD-2-Clause; NIST SD19 "
           "terms for the images",
           tuple(File(f"data/learning/femnist/{rel}", f"{_FEMNIST}/{rel}", sha256=sha)
                 for rel, sha in _FEMNIST_SHA.items())),
    Source("mahimahi-lte", "Saturator's LTE drive traces, Mahimahi format (Verizon short, AT&T "
           "2016)", "GPL-3.0 (ravinet/mahimahi)",
           (File("data/bandwidth/mahimahi_cellular/Verizon-LTE-short.down",
                 f"{_MAHIMAHI}/Verizon-LTE-short.down",
                 sha256="c918436fbd6246af134c76585d9395881fdd27203c59a8902b9a7c675b8a8e3e"),
            File("data/bandwidth/mahimahi_cellular/ATT-LTE-driving-2016.down",
                 f"{_MAHIMAHI}/ATT-LTE-driving-2016.down",
                 sha256="24a40538340de991e0a6595aefc381b11a3da0446176e69b51750707a57b0344"))),
    Source("cifar10", "the full CIFAR-10, official python batches (163 MB download)",
           "no licence stated; cite Krizhevsky 2009",
           (File("data/learning/cifar10/cifar-10-python.tar.gz",
                 "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                 md5="c58f30108f718f92721af3b95e74349a", unpack="tar.gz",
                 provides="data/learning/cifar10/cifar-10-batches-py"),)),
    Source("cifar10-extract", "the shared 4,829-image CIFAR-10 extract", "as CIFAR-10",
           derived="built from truncated public copies of the official batches (the shared "
                   "folder's learning/README.md); fetch `cifar10` for the full set instead"),
    Source("jetson-latency", "published batch-1 Jetson latencies (94 rows)", "MIT (torch2trt)",
           derived="transcribed from NVIDIA-AI-IOT/torch2trt benchmarks/JETSON_*.md at "
                   "4e820ae3; not a file that can be downloaded as is"),
)}


def shared_root() -> Path:
    """The shared folder: ``$EDGESIM_SHARED``, else ``shared`` beside the project's root."""
    env = os.environ.get(SHARED_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "shared"


def cache_root() -> Path:
    """Where fetched data goes: ``$EDGESIM_DATA``, else the user cache (XDG) ``edgesim/shared``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgesim" / "shared"


def locate(rel: str) -> Path:
    """``rel`` (e.g. ``data/video/vtest.avi``) in the shared folder, else in the fetch cache;
    the shared folder's path when neither has it (the caller's message names it)."""
    first = shared_root() / rel
    if first.exists():
        return first
    cached = cache_root() / rel
    return cached if cached.exists() else first


def status(name: str) -> list[tuple[str, Optional[Path]]]:
    """Each file of source ``name`` and where it is found (None: absent)."""
    src = _source(name)
    out = []
    for f in src.files:
        where = locate(f.provides or f.path)
        out.append((f.provides or f.path, where if where.exists() else None))
    return out


def _source(name: str) -> Source:
    if name not in SOURCES:
        from edgesim.errors import did_you_mean
        close = did_you_mean(name, SOURCES)
        raise UserError(f"unknown data source {name!r}" + (f" (did you mean {close!r}?)" if close
                        else "") + f"; valid: {', '.join(SOURCES)}")
    return SOURCES[name]


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(f: File, into: Path, progress: Callable[[str], None]) -> Path:
    """The file at ``f.url``, checked, in a temporary file beside ``into``."""
    into.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{into.name}.", suffix=".part", dir=into.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(f.url, timeout=60) as resp:
            shutil.copyfileobj(resp, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"cannot download {f.url} ({reason}); edgesim needs the network only for "
                        f"this command: run it where there is one, or copy the file to "
                        f"{cache_root() / f.path}") from None
    algo, want = ("sha256", f.sha256) if f.sha256 else ("md5", f.md5)
    got = _digest(Path(tmp), algo)
    if want and got != want:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{f.url}: {algo} {got} is not the expected {want}; the file was not kept "
                        "(the source changed, or the download was damaged)")
    progress(f"{f.path}: {algo} ok")
    return Path(tmp)


def fetch(name: str, progress: Callable[[str], None] = lambda s: None,
          force: bool = False) -> list[Path]:
    """Download source ``name`` into the cache (skipping files already found); its paths."""
    src = _source(name)
    if src.derived:
        raise UserError(f"{name!r} is derived, not downloadable as is: {src.derived}")
    out = []
    for f in src.files:
        target = cache_root() / f.path
        found = locate(f.provides or f.path)
        if found.exists() and not force:
            progress(f"{f.provides or f.path}: already at {found}")
            out.append(found)
            continue
        tmp = _download(f, target, progress)
        if f.unpack == "tar.gz":
            with tarfile.open(tmp) as tar:
                try:
                    tar.extractall(target.parent, filter="data")   # no paths outside it
                except TypeError:  # pragma: no cover - Python before 3.10.12
                    tar.extractall(target.parent)
            tmp.unlink()
        else:
            os.replace(tmp, target)
        out.append(cache_root() / (f.provides or f.path))
    return out
