"""check_output on real hostile outputs: FIFOs, sockets, escaping links, sparse and huge files."""

import os
import socket
import threading
import time

import pytest
from jbuild.engine.outputs import CHUNK, OutputCancelled, OutputError, check_output

HOST = "/var/lib/jbuild-host/store"


def run_with_timeout(fn, seconds=5.0):
    """fn() in a thread; fail (not hang) if it does not return in time; re-raise what it raised."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            result["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"did not return within {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture
def out(tmp_path):
    root = tmp_path / "out"
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "bin" / "a").write_text("#!/bin/sh\necho a\n")
    (root / "lib" / "libz.a").write_bytes(b"!<arch>\n" + b"x" * 100)
    return root


def test_a_clean_output_passes_unchanged(out):
    os.symlink("a", out / "bin" / "b")
    assert check_output(out, [HOST, "/work/ws"]) == []
    assert os.readlink(out / "bin" / "b") == "a"


def test_a_fifo_is_refused_without_being_opened(out):
    os.mkfifo(out / "bin" / "pipe")
    with pytest.raises(OutputError, match=r"^bin/pipe is a FIFO"):
        run_with_timeout(lambda: check_output(out, [HOST]))


def test_a_socket_is_refused(out, monkeypatch):
    monkeypatch.chdir(out / "lib")  # a relative name: AF_UNIX paths are short
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind("sock")
        with pytest.raises(OutputError, match=r"^lib/sock is a socket"):
            check_output(out, [HOST])
    finally:
        s.close()


def test_a_device_node_is_refused(out):
    try:
        os.mknod(out / "null", 0o600 | 0o020000, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    with pytest.raises(OutputError, match=r"^null is a character device"):
        check_output(out, [HOST])


@pytest.mark.parametrize("rel, target, why", [
    ("share", "/", "points outside the entry"),
    ("lib/etc", "/etc", "points outside the entry"),
    ("lib/cc", "/usr/bin/cc", "points outside the entry"),
    ("lib/x", "../../etc", "climbs out of the entry"),
    ("up", "..", "climbs out of the entry"),
    ("bin/sneaky", "/out/../etc", "climbs out of the entry"),
])
def test_a_link_leaving_the_entry_is_refused(out, rel, target, why):
    os.symlink(target, out / rel)
    with pytest.raises(OutputError, match=rf"^{rel} -> {target} {why}"):
        check_output(out, [HOST])


def test_a_link_through_a_link_that_folds_the_path_is_refused(out):
    """`t -> s/../x` looks inside, but with `s -> .` the kernel lands beside the entry."""
    os.symlink(".", out / "s")
    os.symlink("s/../x", out / "t")
    with pytest.raises(OutputError, match=r"^t -> s/\.\./x climbs out"):
        check_output(out, [HOST])


def test_a_link_through_an_escaping_link_is_refused_at_either_link(out):
    os.symlink("/etc", out / "lib" / "conf")
    with pytest.raises(OutputError, match="points outside the entry"):
        check_output(out, [HOST])


def test_a_symlink_loop_is_refused(out):
    os.symlink("b", out / "bin" / "c")
    os.symlink("c", out / "bin" / "b")
    with pytest.raises(OutputError, match="symlink loop"):
        check_output(out, [HOST])


def test_links_inside_the_entry_pass_even_dangling(out):
    os.symlink("../lib/libz.a", out / "bin" / "z")
    os.symlink("libz.so.1", out / "lib" / "libz.so")  # dangling, inside
    os.symlink("../bin", out / "lib" / "bindir")
    os.symlink("bindir/../lib/libz.a", out / "lib" / "through")  # the kernel: bin/.. is the root
    assert check_output(out, [HOST]) == []
    assert (out / "lib" / "through").resolve() == (out / "lib" / "libz.a").resolve()


def test_absolute_links_into_out_are_rewritten_relative(out):
    """make install with DESTDIR-less prefix=/out leaves bin/bzegrep -> /out/bin/bzgrep."""
    (out / "share" / "doc").mkdir(parents=True)
    os.symlink("/out/bin/a", out / "bin" / "bzegrep")
    os.symlink("/out/lib/", out / "share" / "doc" / "libs")
    os.symlink("/out", out / "self")
    notes = check_output(out, [HOST])
    assert os.readlink(out / "bin" / "bzegrep") == "a"
    assert (out / "bin" / "bzegrep").resolve() == (out / "bin" / "a").resolve()
    assert os.readlink(out / "share" / "doc" / "libs") == "../../lib/"
    assert (out / "share" / "doc" / "libs" / "libz.a").resolve() == (out / "lib" / "libz.a").resolve()
    assert os.readlink(out / "self") == "."
    assert "bin/bzegrep: symlink /out/bin/a rewritten to a" in notes
    assert len(notes) == 3
    assert check_output(out, [HOST]) == []  # idempotent


def test_a_rewritten_link_with_dotdot_keeps_the_kernels_meaning(out):
    (out / "lib" / "sub").mkdir()
    os.symlink("..", out / "lib" / "sub" / "up")  # lib/sub/up -> lib
    os.symlink("/out/lib/sub/up/libz.a", out / "bin" / "z")
    check_output(out, [HOST])
    assert (out / "bin" / "z").resolve() == (out / "lib" / "libz.a").resolve()


def test_a_host_path_in_a_link_target_is_refused(out):
    os.symlink(HOST + "/abc-zlib/lib", out / "zlib")
    with pytest.raises(OutputError, match=r"^zlib contains the host path /var/lib/jbuild-host/store"):
        check_output(out, [HOST])


def test_a_host_path_in_a_small_file_is_refused(out):
    (out / "lib" / "pkgconfig").mkdir()
    (out / "lib" / "pkgconfig" / "z.pc").write_text(f"prefix={HOST}/abc-zlib\n")
    with pytest.raises(OutputError, match=r"^lib/pkgconfig/z\.pc contains the host path"):
        check_output(out, ["", "/", HOST + "/"])  # empty and root needles are ignored


@pytest.mark.parametrize("offset", [CHUNK - 5, 2 * CHUNK - len(HOST) + 1, 2 * CHUNK, 3 * CHUNK - len(HOST)])
def test_a_host_path_across_a_chunk_boundary_is_found(out, offset):
    data = bytearray(b"\x7fELF" + b"A" * (3 * CHUNK + 100))
    data[offset:offset + len(HOST)] = HOST.encode()
    (out / "lib" / "big.so").write_bytes(bytes(data))
    with pytest.raises(OutputError, match=r"^lib/big\.so contains the host path"):
        check_output(out, [HOST])


def test_a_host_path_prefix_cut_at_the_end_is_not_a_match(out):
    (out / "lib" / "big").write_bytes(b"B" * (CHUNK - 4) + HOST[:-1].encode())
    assert check_output(out, [HOST]) == []


def test_a_64_gb_sparse_file_costs_nothing(out):
    huge = out / "lib" / "huge.img"
    with open(huge, "wb") as f:
        f.truncate(64 << 30)
        f.seek(32 << 30)
        f.write(b"some data in the middle")
    start = time.monotonic()
    assert run_with_timeout(lambda: check_output(out, [HOST])) == []
    assert time.monotonic() - start < 0.5


def test_data_after_a_hole_is_still_scanned(out):
    huge = out / "lib" / "huge.img"
    with open(huge, "wb") as f:
        f.truncate(64 << 30)
        f.seek(48 << 30)
        f.write(b"prefix=" + HOST.encode())
    with pytest.raises(OutputError, match=r"^lib/huge\.img contains the host path"):
        run_with_timeout(lambda: check_output(out, [HOST]))


def test_a_cancelled_check_stops_between_chunks(out):
    (out / "lib" / "big").write_bytes(b"C" * (8 * CHUNK))
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 5

    with pytest.raises(OutputCancelled):
        check_output(out, [HOST], cancelled)
    assert len(calls) == 6  # it stopped at once, not after reading the whole file


def test_a_cancelled_check_stops_before_any_file(out):
    with pytest.raises(OutputCancelled):
        check_output(out, [HOST], lambda: True)


def test_the_output_root_must_be_a_real_directory(tmp_path, out):
    os.symlink(out, tmp_path / "link")
    with pytest.raises(OutputError, match="is not a directory"):
        check_output(tmp_path / "link", [HOST])
