"""base/freshness.py: `all_trusted` (the no-op's check of 10,000 stats at once) says what
`trusted` says of each file, on real files: unchanged, edited, replaced, removed, racy."""

import os

import pytest
from jbuild.base.freshness import RACY_MARGIN_NS, all_trusted, stat_key, trusted


def _files(tmp_path, n=5):
    paths = []
    for i in range(n):
        p = tmp_path / f"f{i}.txt"
        p.write_text(f"{i}\n")
        paths.append(str(p))
    return paths


def _recorded(paths):
    return {p: stat_key(os.stat(p)) for p in paths}


def _each(files, read_at):
    return all(trusted(os.stat(p), s, read_at) for p, s in files.items())


def test_unchanged_files_are_trusted_once_safely_old(tmp_path):
    files = _recorded(_files(tmp_path))
    later = max(max(s[0], s[3]) for s in files.values()) + RACY_MARGIN_NS + 1
    assert all_trusted(files, later) and _each(files, later)


def test_a_racy_file_is_not_trusted(tmp_path):
    """Read within the margin of its last change: a same-size edit could hide in the same tick."""
    files = _recorded(_files(tmp_path))
    racy = max(s[0] for s in files.values()) + RACY_MARGIN_NS // 2
    assert not all_trusted(files, racy) and not _each(files, racy)


@pytest.mark.parametrize("change", ["edit", "replace", "touch"])
def test_a_changed_file_is_not_trusted(tmp_path, change):
    paths = _files(tmp_path)
    files = _recorded(paths)
    target = paths[3]
    if change == "edit":
        with open(target, "a") as f:
            f.write("more\n")
    elif change == "replace":  # same size, new inode (an editor's atomic save)
        os.replace(_copy(target), target)
    else:
        st = os.stat(target)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    later = 2**62
    assert not all_trusted(files, later) and not _each(files, later)


def test_a_removed_file_raises_as_os_stat_does(tmp_path):
    paths = _files(tmp_path)
    files = _recorded(paths)
    os.unlink(paths[0])
    with pytest.raises(OSError):
        all_trusted(files, 2**62)


def _copy(path):
    other = path + ".new"
    with open(path) as f, open(other, "w") as g:
        g.write(f.read())
    return other
