"""The kept data-class code never outlives its class. A module
defining a data class is edited between processes (a field added, a default changed, frozen
toggled, a field renamed) with the kept file shared by all of them; each process must behave as
the class now reads. Also a kept file written by another interpreter version's header, and a
torn one, are ignored; an unwritable directory is no error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

VERSIONS = [
    "@dataclass\nclass C:\n    a: int\n    b: str = 'x'\n",
    "@dataclass\nclass C:\n    a: int\n    b: str = 'y'\n    c: list = field(default_factory=lambda: [1])\n",
    "@dataclass(frozen=True)\nclass C:\n    a: int\n    b: str = 'y'\n",
    "@dataclass(order=True)\nclass C:\n    z: int\n    b: str = 'q'\n",
]
PROBE = """
import sys
sys.path.insert(0, {mod_dir!r})
from jbuild.base import dataclass_code
dataclass_code.install({kept!r})
import m
c = m.C(1)
try:
    c.b = 'set'; frozen = False
except Exception:
    frozen = True
print(repr(m.C(1)), frozen, [f for f in m.C.__dataclass_fields__])
"""


def _run(tmp_path, version: str) -> str:
    mod_dir = tmp_path / "mod"
    mod_dir.mkdir(exist_ok=True)
    (mod_dir / "m.py").write_text("from dataclasses import dataclass, field\n" + version)
    code = PROBE.format(mod_dir=str(mod_dir), kept=str(tmp_path / "kept.marshal"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _fresh(tmp_path, version: str) -> str:
    ns: dict = {}
    exec("from dataclasses import dataclass, field\n" + version, ns)  # noqa: S102 - the reference
    c = ns["C"](1)
    try:
        c.b = "set"
        frozen = False
    except Exception:  # noqa: BLE001
        frozen = True
    return f"{ns['C'](1)!r} {frozen} {list(ns['C'].__dataclass_fields__)}".replace("__main__.", "m.")


def test_edited_classes_behave_as_they_now_read(tmp_path):
    for round_ in range(2):  # the second round reads every version's code from the kept file
        for v in VERSIONS:
            got = _run(tmp_path, v)
            want = _fresh(tmp_path, v).replace("C(", "C(", 1)
            assert got.split(" ", 1)[1] == want.split(" ", 1)[1] and got.split("(")[1] == want.split("(")[1], \
                (round_, v, got, want)
    assert (tmp_path / "kept.marshal").exists()


def test_a_torn_or_foreign_kept_file_is_ignored(tmp_path):
    _run(tmp_path, VERSIONS[1])
    kept = tmp_path / "kept.marshal"
    data = kept.read_bytes()
    for bad in (data[: len(data) // 2], b"jbuild-dc1" + b"\x00\x00\r\n" + data[14:], data[:10] + b"garbage" * 50):
        kept.write_bytes(bad)
        assert _run(tmp_path, VERSIONS[3]).startswith("m.C(z=1, b='q')") or "C(z=1, b='q')" in _run(tmp_path, VERSIONS[3])


def test_an_unwritable_kept_directory_is_no_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    code = textwrap.dedent(f"""
        import os, dataclasses
        os.setgid(65534); os.setuid(65534)
        from jbuild.base import dataclass_code
        dataclass_code.install({str(ro / 'sub' / 'kept.marshal')!r})
        @dataclasses.dataclass
        class D:
            x: int = 4
        print(D())
    """)
    os.chmod(ro, 0o555)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if os.geteuid() != 0:
        r = subprocess.run([sys.executable, "-c", code.replace("os.setgid(65534); os.setuid(65534)", "")],
                           capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "D(x=4)" in r.stdout and not r.stderr, r.stderr
