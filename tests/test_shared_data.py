"""`edgesim data`: real data a fresh clone lacks, fetched from its source with a checksum into
a user cache that `shared:` paths then find (issue #29). The tests fetch from file:// URLs."""
from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgesim import shared_data
from edgesim.cli.app import main
from edgesim.errors import UserError
from edgesim.shared_data import File, Source, fetch, locate, status


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An empty shared folder, an empty cache, and a 'remote' folder served as file:// URLs."""
    shared, cache, remote = tmp_path / "shared", tmp_path / "cache", tmp_path / "remote"
    for p in (shared, cache, remote):
        p.mkdir()
    monkeypatch.setenv("EDGESIM_SHARED", str(shared))
    monkeypatch.setenv("EDGESIM_DATA", str(cache))
    return shared, cache, remote


def _source(monkeypatch, remote: Path, name: str, content: bytes, *, sha: str | None = None,
            path: str = "data/video/clip.avi") -> Source:
    (remote / "clip.avi").write_bytes(content)
    src = Source(name, "a test clip", "CC0", (File(
        path, (remote / "clip.avi").as_uri(),
        sha256=sha if sha is not None else hashlib.sha256(content).hexdigest()),))
    monkeypatch.setitem(shared_data.SOURCES, name, src)
    return src


def test_fetch_checks_and_stores_where_shared_paths_find_it(places, monkeypatch):
    shared, cache, remote = places
    _source(monkeypatch, remote, "clip", b"frames" * 1000)
    assert status("clip") == [("data/video/clip.avi", None)]
    (got,) = fetch("clip")
    assert got == cache / "data/video/clip.avi" and got.read_bytes() == b"frames" * 1000
    assert locate("data/video/clip.avi") == got
    from edgesim.learning.datasets.paths import resolve
    assert resolve("shared:data/video/clip.avi", Path) == got
    # The shared folder, when it has the file, wins over the cache.
    (shared / "data/video").mkdir(parents=True)
    (shared / "data/video/clip.avi").write_bytes(b"x")
    assert locate("data/video/clip.avi") == shared / "data/video/clip.avi"


def test_a_checksum_mismatch_keeps_nothing(places, monkeypatch):
    _shared, cache, remote = places
    _source(monkeypatch, remote, "clip", b"frames", sha="0" * 64)
    with pytest.raises(UserError, match="is not the expected 0000"):
        fetch("clip")
    assert not any(p.is_file() for p in cache.rglob("*"))


def test_no_network_is_one_line_that_says_what_to_do(places, monkeypatch):
    _shared, cache, _remote = places
    monkeypatch.setitem(shared_data.SOURCES, "far", Source("far", "x", "CC0", (File(
        "data/x.bin", "http://edgesim.invalid/x.bin", sha256="0" * 64),)))
    with pytest.raises(UserError, match=r"cannot download http://edgesim.invalid/x.bin .*copy "
                                        r"the file to"):
        fetch("far")
    assert not any(p.is_file() for p in cache.rglob("*"))


def test_an_archive_is_unpacked_to_what_scenarios_name(places, monkeypatch):
    _shared, cache, remote = places
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("batches/data_1")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    (remote / "set.tar.gz").write_bytes(buf.getvalue())
    monkeypatch.setitem(shared_data.SOURCES, "set", Source("set", "x", "CC0", (File(
        "data/learning/set/set.tar.gz", (remote / "set.tar.gz").as_uri(),
        md5=hashlib.md5(buf.getvalue()).hexdigest(), unpack="tar.gz",
        provides="data/learning/set/batches"),)))
    (got,) = fetch("set")
    assert got == cache / "data/learning/set/batches" and (got / "data_1").read_bytes() == b"abc"
    assert not (cache / "data/learning/set/set.tar.gz").exists()
    assert fetch("set") == [got]                     # found: not downloaded again


def test_derived_and_unknown_sources_are_refused_with_the_reason():
    with pytest.raises(UserError, match="derived, not downloadable"):
        fetch("jetson-latency")
    with pytest.raises(UserError, match=r"unknown data source 'vtset' \(did you mean 'vtest'\?\)"):
        fetch("vtset")


def test_every_registered_file_has_a_checksum_and_a_pinned_or_official_source():
    for src in shared_data.SOURCES.values():
        assert src.derived or src.files
        for f in src.files:
            assert len(f.sha256) == 64 or len(f.md5) == 32, f.path
            assert f.url.startswith("https://"), f.url


def test_the_registry_matches_the_shared_folder_byte_for_byte():
    """The recorded hashes are those of the shared folder's byte-exact copies."""
    root = shared_data.shared_root()
    checked = 0
    for src in shared_data.SOURCES.values():
        for f in src.files:
            p = root / f.path
            if f.sha256 and p.is_file():
                assert hashlib.sha256(p.read_bytes()).hexdigest() == f.sha256, f.path
                checked += 1
    if not checked:
        pytest.skip(f"the shared folder is absent ({root}): set $EDGESIM_SHARED")
    assert checked >= 15


def test_cli_list_path_and_fetch(places, monkeypatch):
    _shared, _cache, remote = places
    _source(monkeypatch, remote, "clip", b"frames")
    runner = CliRunner()
    assert "clip" in runner.invoke(main, ["data", "list"]).output
    missing = runner.invoke(main, ["data", "path", "clip"])
    assert missing.exit_code == 1 and "edgesim data fetch clip" in missing.output
    assert runner.invoke(main, ["data", "fetch", "clip"]).exit_code == 0
    found = runner.invoke(main, ["data", "path", "clip"])
    assert found.exit_code == 0 and found.output.strip().endswith("data/video/clip.avi")
    assert runner.invoke(main, ["data", "fetch", "nope"]).exit_code == 2
