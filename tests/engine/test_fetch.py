"""engine/fetch/ against real things: a local HTTP server, real archives, GNU patch, git over
the dumb HTTP protocol, a download killed midway. No sandbox here (test_fetch_build.py builds)."""

import io
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile

import pytest
from fetchkit import make_git_repo, make_tar, serving, sha256
from jbuild.engine.fetch import FetchError, downloads, git
from jbuild.engine.fetch.downloads import DownloadCache
from jbuild.engine.fetch.patches import apply_all
from jbuild.engine.fetch.unpack import unpack

SRC = {"README": "hello\n", "src/main.c": "int main(void) { return 0; }\n", "run.sh": "#!/bin/sh\n"}


@pytest.fixture
def archive(tmp_path):
    path = make_tar(tmp_path / "srv" / "pkg-1.0.tar.gz", SRC)
    return path, sha256(path)


def test_a_download_is_verified_kept_read_only_and_fetched_once(tmp_path, archive):
    path, digest = archive
    with serving(path.parent) as srv:
        cache = DownloadCache(tmp_path / "dl")
        got = cache.ensure(f"{srv.url}/pkg-1.0.tar.gz", digest)
        assert got == tmp_path / "dl" / "sha256" / digest and got.read_bytes() == path.read_bytes()
        assert got.stat().st_mode & 0o777 == 0o444
        DownloadCache(tmp_path / "dl").ensure(f"{srv.url}/moved/elsewhere.tar.gz", digest)  # the hash, not the URL
        assert srv.hits("pkg-1.0.tar.gz") == 1 and len(srv.requests) == 1


def test_a_wrong_hash_names_both_and_keeps_nothing(tmp_path, archive):
    path, digest = archive
    wrong = "0" * 64
    with serving(path.parent) as srv:
        with pytest.raises(FetchError) as info:
            DownloadCache(tmp_path / "dl").ensure(f"{srv.url}/pkg-1.0.tar.gz", wrong)
    assert f"the recipe says {wrong}" in str(info.value) and f"the download has {digest}" in str(info.value)
    assert "nothing was kept" in str(info.value)
    assert os.listdir(tmp_path / "dl" / "sha256") == [] and os.listdir(tmp_path / "dl" / "partial") == []


def test_mirrors_by_hash_and_by_name_before_the_url_and_offline(tmp_path, archive):
    path, digest = archive
    by_hash, by_name = tmp_path / "m1", tmp_path / "m2"
    (by_hash / "sha256").mkdir(parents=True)
    by_name.mkdir()
    (by_hash / "sha256" / digest).write_bytes(path.read_bytes())
    (by_name / "pkg-1.0.tar.gz").write_bytes(path.read_bytes())
    url = "http://127.0.0.1:9/pkg-1.0.tar.gz"  # nothing listens there: only a mirror can answer
    for n, mirror in enumerate((by_hash, by_name)):
        cache = DownloadCache(tmp_path / f"dl{n}", (str(mirror),), offline=True)
        assert cache.ensure(url, digest).read_bytes() == path.read_bytes()
        assert cache.tried == [str(mirror / "sha256" / digest) if n == 0 else str(mirror / "pkg-1.0.tar.gz")]
    with pytest.raises(FetchError) as info:
        DownloadCache(tmp_path / "dl3", (str(tmp_path / "empty"),), offline=True).ensure(url, digest)
    text = str(info.value)
    assert url in text and str(tmp_path / "empty") in text and "--offline" in text


def test_an_http_mirror_and_a_mirror_url(tmp_path, archive):
    path, digest = archive
    (tmp_path / "srv" / "pool" / "p").mkdir(parents=True)
    os.rename(path, tmp_path / "srv" / "pool" / "p" / "pkg_1.0.orig.tar.gz")
    with serving(tmp_path / "srv") as srv:
        cache = DownloadCache(tmp_path / "dl", (srv.url,))
        cache.ensure("mirror://debian/pool/p/pkg_1.0.orig.tar.gz", digest)
        assert srv.requests[-1] == "/pool/p/pkg_1.0.orig.tar.gz"
    with pytest.raises(FetchError, match="a mirror:// URL is found only in a mirror"):
        DownloadCache(tmp_path / "dl2").ensure("mirror://debian/pool/p/pkg_1.0.orig.tar.gz", digest)


def test_a_bad_file_at_a_mirror_falls_through_to_the_url(tmp_path, archive):
    path, digest = archive
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pkg-1.0.tar.gz").write_bytes(b"an older tarball of the same name")
    with serving(path.parent) as srv:
        cache = DownloadCache(tmp_path / "dl", (str(tmp_path / "m"),))
        assert cache.ensure(f"{srv.url}/pkg-1.0.tar.gz", digest).read_bytes() == path.read_bytes()


def test_two_builds_fetching_one_archive_download_it_once(tmp_path, archive):
    path, digest = archive
    with serving(path.parent, slow=0.001) as srv:
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            DownloadCache(tmp_path / "dl").ensure(f"{srv.url}/pkg-1.0.tar.gz", digest))) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 3 and srv.hits("pkg-1.0.tar.gz") == 1


def test_a_killed_download_leaves_nothing_in_the_cache(tmp_path, monkeypatch):
    big = tmp_path / "srv" / "big.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(1 << 20))
    digest = sha256(big)
    with serving(big.parent, slow=0.01) as srv:
        code = ("import sys; from pathlib import Path; from jbuild.engine.fetch.downloads import DownloadCache; "
                f"DownloadCache(Path({str(tmp_path / 'dl')!r})).ensure({srv.url + '/big.bin'!r}, {digest!r})")
        proc = subprocess.Popen([sys.executable, "-c", code])
        partial = tmp_path / "dl" / "partial"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (partial.is_dir() and any(p.stat().st_size for p in partial.iterdir())):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert os.listdir(tmp_path / "dl" / "sha256") == []  # never a partial file under its hash
        left = os.listdir(partial)
        assert len(left) == 1  # the killed one's, unlocked now
        monkeypatch.setattr(downloads, "STALE", 0.0)
        srv.slow = 0
        DownloadCache(tmp_path / "dl").ensure(srv.url + "/big.bin", digest)
    assert os.listdir(partial) == [] and (tmp_path / "dl" / "sha256" / digest).read_bytes() == big.read_bytes()


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_unpack_tarballs_with_strip(tmp_path, mode):
    path = make_tar(tmp_path / "a.tar", SRC, mode)
    (tmp_path / "out").mkdir()
    assert unpack(path, tmp_path / "out", strip=1) == 3
    assert (tmp_path / "out" / "src" / "main.c").read_text() == SRC["src/main.c"]
    assert os.access(tmp_path / "out" / "run.sh", os.X_OK) and not os.access(tmp_path / "out" / "README", os.X_OK)


def test_unpack_zip_with_strip(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        for rel, text in SRC.items():
            zf.writestr(f"pkg-1.0/{rel}", text)
    (tmp_path / "out").mkdir()
    unpack(tmp_path / "a.zip", tmp_path / "out", strip=1)
    assert (tmp_path / "out" / "src" / "main.c").read_text() == SRC["src/main.c"]


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize("bad,why", [
    (_link("pkg-1.0/etc", "/etc"), "absolute"),
    (_link("pkg-1.0/up", "../../outside"), "outside the destination"),
    (tarfile.TarInfo("pkg-1.0/../../evil"), "outside the destination"),
])
def test_unpack_refuses_what_escapes(tmp_path, bad, why):
    path = make_tar(tmp_path / "a.tar.gz", {"README": "x"}, extra=[bad])
    (tmp_path / "out").mkdir()
    with pytest.raises(FetchError, match="refused to unpack") as info:
        unpack(path, tmp_path / "out", strip=1)
    assert why in str(info.value)
    assert not (tmp_path / "evil").exists()


def test_unpack_keeps_a_hard_link_under_strip(tmp_path):
    path = make_tar(tmp_path / "a.tar.gz", {"README": "x"}, extra=[_link("pkg-1.0/COPY", "pkg-1.0/README", tarfile.LNKTYPE)])
    (tmp_path / "out").mkdir()
    unpack(path, tmp_path / "out", strip=1)
    assert (tmp_path / "out" / "COPY").read_text() == "x"


def test_unpack_of_something_else_is_a_clear_error(tmp_path):
    (tmp_path / "a.tar.gz").write_text("<html>404</html>")
    (tmp_path / "out").mkdir()
    with pytest.raises(FetchError, match="not an archive jbuild can unpack"):
        unpack(tmp_path / "a.tar.gz", tmp_path / "out")


PATCH = """--- a/src/main.c
+++ b/src/main.c
@@ -1 +1 @@
-int main(void) { return 0; }
+int main(void) { return 7; }
"""


def test_patches_apply_in_order_and_a_failing_one_names_the_hunk(tmp_path):
    src, base = tmp_path / "src", tmp_path / "pkg"
    (src / "src").mkdir(parents=True)
    (src / "src" / "main.c").write_text(SRC["src/main.c"])
    (base / "patches").mkdir(parents=True)
    (base / "patches" / "one.patch").write_text(PATCH)
    (base / "patches" / "two.patch").write_text(PATCH.replace("return 0", "return 1").replace("return 7", "return 8"))
    apply_all(src, base, ("patches/one.patch",))
    assert "return 7" in (src / "src" / "main.c").read_text()
    with pytest.raises(FetchError) as info:
        apply_all(src, base, ("patches/two.patch",))
    assert str(info.value) == ("patch patches/two.patch does not apply: src/main.c: hunk #1 (@@ -1 +1 @@) "
                               "FAILED at line 1")
    with pytest.raises(FetchError, match="already applied"):
        apply_all(src, base, ("patches/one.patch",))
    with pytest.raises(FetchError, match="is -p3 right"):
        apply_all(src, base, ("patches/one.patch",), strip=3)


def test_git_over_dumb_http_and_offline_from_the_cache(tmp_path):
    commit = make_git_repo(tmp_path / "srv" / "lib", {"lib.c": "int f(void) { return 1; }\n", "sub/x.h": "#define X 1\n"})
    with serving(tmp_path / "srv") as srv:
        url = f"{srv.url}/lib/.git"
        git.export(tmp_path / "dl", url, commit, _mkdir(tmp_path / "out1"), offline=False)
        with pytest.raises(FetchError, match="cannot fetch commit " + "f" * 40):
            git.export(tmp_path / "dl", url, "f" * 40, _mkdir(tmp_path / "out2"), offline=False)
    assert (tmp_path / "out1" / "sub" / "x.h").read_text() == "#define X 1\n"
    assert not (tmp_path / "out1" / ".git").exists()
    git.export(tmp_path / "dl", url, commit, _mkdir(tmp_path / "out3"), offline=True)  # server gone: the cache
    assert (tmp_path / "out3" / "lib.c").exists()
    with pytest.raises(FetchError, match="--offline"):
        git.export(tmp_path / "dl", url, "e" * 40, _mkdir(tmp_path / "out4"), offline=True)


def _mkdir(path):
    path.mkdir()
    return path


def test_a_large_download_reports_its_progress_by_the_quarter(tmp_path):
    from jbuild.engine.fetch.stage import Fetcher

    big = tmp_path / "srv" / "big-1.0.tar"
    big.parent.mkdir()
    big.write_bytes(os.urandom(5 << 20))
    lines = []
    with serving(big.parent) as srv:
        Fetcher(tmp_path / "dl", say=lines.append).archive(f"{srv.url}/big-1.0.tar", sha256(big))
    assert [line.split(" (")[-1] for line in lines[:3]] == ["25%)", "50%)", "75%)"]
    assert lines[0].startswith("fetching big-1.0.tar: ") and lines[-1].startswith("fetched big-1.0.tar (5.2 MB) from http")



def test_on_a_terminal_the_progress_is_in_the_status_line(tmp_path, monkeypatch):
    import io as _io

    for ci in ("CI", "GITHUB_ACTIONS"):  # a CI run's own variables ask for plain lines
        monkeypatch.delenv(ci, raising=False)

    from jbuild.engine.fetch.stage import Fetcher
    from jbuild.engine.progress import Reporter

    class Tty(_io.StringIO):
        def isatty(self):
            return True

    big = tmp_path / "srv" / "big-1.0.tar"
    big.parent.mkdir()
    big.write_bytes(os.urandom(5 << 20))
    stream = Tty()
    reporter = Reporter(1, stream=stream)
    reporter.started("//:big", "never built before")
    with serving(big.parent, slow=0.0005) as srv:
        Fetcher(tmp_path / "dl", say=reporter.note, live=reporter.progress).archive(f"{srv.url}/big-1.0.tar", sha256(big))
    text = stream.getvalue()
    assert "\r\033[K[1 / 1] building //:big; 0s (1 running); fetching big-1.0.tar: " in text and " of 5.2 MB" in text
    assert "(25%)" not in text and reporter.detail == ""  # cleared once done
    reporter.summary(0, False)


def test_staging_overlays_declared_files_and_patches_a_read_only_archive(tmp_path):
    """A 0555 directory and 0444 files in the archive: a declared file still replaces the
    archive's README, and the patch still applies (as an ordinary user, too)."""
    from jbuild.dsl.model import Archive, FileSet, Package
    from jbuild.dsl.span import Span
    from jbuild.engine.build_action import _stage_sources
    from jbuild.engine.fetch.stage import Fetcher

    archive = tmp_path / "x.tar"
    with tarfile.open(archive, "w") as tar:
        ro = tarfile.TarInfo("pkg-1.0/ro")
        ro.type, ro.mode = tarfile.DIRTYPE, 0o555
        tar.addfile(ro)
        data = SRC["src/main.c"].encode()
        for name in ("pkg-1.0/ro/main.c", "pkg-1.0/README"):
            f = tarfile.TarInfo(name)
            f.size, f.mode = len(data), 0o444
            tar.addfile(f, io.BytesIO(data))
    base = tmp_path / "pkg"
    (base / "p").mkdir(parents=True)
    (base / "README").write_text("ours\n")
    (base / "p" / "fix.patch").write_text(PATCH.replace("src/main.c", "ro/main.c"))
    pkg = Package(label=None, version=None, span=Span("BUILD", 1, 1), files=("README", "p/fix.patch"),
                  sources=FileSet(("README",), fetched=(Archive(f"file://{archive}", sha256(archive), 1),)),
                  patches=FileSet(("p/fix.patch",)))
    Fetcher(tmp_path / "dl").stage(pkg, base, tmp_path / "src", _stage_sources)
    assert (tmp_path / "src" / "README").read_text() == "ours\n"
    assert "return 7" in (tmp_path / "src" / "ro" / "main.c").read_text()
    assert not (tmp_path / "src" / "p").exists()  # a patch is a source of the key, not of $SRC
