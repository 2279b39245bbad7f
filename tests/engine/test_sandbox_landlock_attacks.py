"""Attacks on the Landlock mode (sandbox_landlock.py, landlock_exec.c): a build trying, with real
system calls in a real sandbox, to reach a store entry it did not declare; the helper's cache and
limits; where the mode behaves unlike bwrap (so it is keyed apart). Each attack that held is kept
here so that it keeps holding; each hole found has its test, with its fix."""

import os
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import run_jbuild
from jbuild.engine import sandbox_landlock
from jbuild.engine.sandbox import BwrapExecutor
from test_sandbox_landlock import job, store_with

# Each attack: a name and Python code run inside the sandbox; it raising OSError is the attack
# held. The undeclared entry is S, its path U; the declared one is at /deps/declared.
ATTACKS = {
    "read": "open(U + '/f').read()",
    "list the store": "os.listdir('/.store')",
    "list the root": "os.listdir('/')",
    "list the entry": "os.listdir(U)",
    "run its program": "run([U + '/bin/t'])",
    "run it through the loader": "run(['/lib64/ld-linux-x86-64.so.2', U + '/bin/t'])",
    "through /proc/self/root": "open('/proc/self/root' + U + '/f').read()",
    "through /proc/1/root": "open('/proc/1/root' + U + '/f').read()",
    "'..' from a declared entry": "open('/deps/declared/../' + S + '/f').read()",
    "chdir, then a relative open": "(os.chdir(U), open('f').read())",
    "O_PATH, reopened through /proc/self/fd": "open(f\"/proc/self/fd/{os.open(U + '/f', os.O_PATH)}\").read()",
    "openat from the store's descriptor": "os.open(S + '/f', os.O_RDONLY, dir_fd=os.open('/.store', os.O_PATH))",
    "openat '..' from a declared entry's descriptor":
        "os.open('../' + S + '/f', os.O_RDONLY, dir_fd=os.open('/deps/declared', os.O_RDONLY))",
    "a symlink planted in /tmp": "(os.symlink(U, '/tmp/l'), open('/tmp/l/f').read())",
    "a symlink planted in /out": "(os.symlink(U + '/f', '/out/l'), open('/out/l').read())",
    "a hard link into /tmp": "os.link(U + '/f', '/tmp/h')",
    "a rename into /tmp": "os.rename(U + '/f', '/tmp/r')",
    "write a declared entry": "open('/deps/declared/f', 'a')",
    "create in the store": "open('/.store/new', 'w')",
    "create in the root": "open('/new', 'w')",
    "truncate a declared file": "os.truncate('/deps/declared/f', 0)",
    "write /src": "open('/src/new', 'w')",
    "write /env": "open('/env/new', 'w')",
    "the store's index": "open('/.store/index.sqlite', 'rb').read()",
    "another build's output in progress": "open('/.store/.tmp-1.out/f').read()",
    "a bind mount in a new user namespace": "userns(); mount(U, '/tmp/m', None, MS_BIND)",
    "a tmpfs over /deps in a new user namespace": "userns(); mount('t', '/deps', 'tmpfs', 0)",
    "a detached copy of the entry (open_tree)":
        "userns(); os.open('f', os.O_RDONLY, dir_fd=check(libc.syscall(428, -100, U.encode(), 1)))",
    "chroot into the store": "userns(); check(libc.chroot(b'/.store')); open('/' + S + '/f').read()",
}

# The same means reaching the declared entry: each must work, or the attacks prove nothing.
CONTROLS = {
    "O_PATH, reopened": "open(f\"/proc/self/fd/{os.open('/deps/declared/f', os.O_PATH)}\").read()",
    "openat from a descriptor": "os.open('f', os.O_RDONLY, dir_fd=os.open('/deps/declared', os.O_PATH))",
    "through /proc/self/root": "open('/proc/self/root/deps/declared/f').read()",
    "a symlink planted in /tmp": "(os.symlink('/deps/declared', '/tmp/d'), open('/tmp/d/f').read())",
    "a new user namespace": "userns(); open('/deps/declared/f').read()",
}

ATTACKER = textwrap.dedent("""
    import ctypes, os, subprocess, sys
    S = sys.argv[1]
    U = '/.store/' + S
    MS_BIND = 0x1000
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    def check(r):
        if r < 0:
            raise OSError(ctypes.get_errno(), 'failed')
        return r
    def run(argv):
        if subprocess.run(argv, capture_output=True).returncode:
            raise OSError('did not run')
    def userns():
        check(libc.unshare(0x10000000 | 0x00020000))
        for name, data in (('setgroups', 'deny'), ('uid_map', '0 1000 1'), ('gid_map', '0 1000 1')):
            open(f'/proc/self/{name}', 'w').write(data)
        os.makedirs('/tmp/m', exist_ok=True)
    def mount(source, target, kind, flags):
        check(libc.mount(source.encode(), target.encode(), kind and kind.encode(), flags, None))
    for line in open(sys.argv[2]):
        name, code = line.rstrip('\\n').split('\\t')
        pid = os.fork()  # each in a process of its own: chroot or a namespace must not leak
        if pid == 0:
            os.chdir('/tmp')
            try:
                exec(code)
                print('REACHED', name, flush=True)
            except (OSError, PermissionError) as exc:
                print('DENIED', name, exc.errno, flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
""")


def attack_job(tmp_path: Path, attacks: dict):
    """A job with a declared entry and, beside it in the store, an undeclared one (a program,
    data), the store's index and another build's output in progress."""
    deps = store_with(tmp_path, ["declared", "undeclared"])
    hidden = deps.pop("undeclared")
    (hidden / "bin").mkdir()
    (hidden / "bin" / "t").write_bytes(Path("/usr/bin/true").read_bytes())
    (hidden / "bin" / "t").chmod(0o755)
    (hidden.parent / "index.sqlite").write_text("index")
    (hidden.parent / ".tmp-1.out").mkdir()
    (hidden.parent / ".tmp-1.out" / "f").write_text("in progress")
    j = job(tmp_path, f"python3 $SRC/attack.py {hidden.name} $SRC/attacks > $TMPDIR/r 2>&1; cp $TMPDIR/r /out/r",
            deps)
    (j.src / "attack.py").write_text(ATTACKER)
    (j.src / "attacks").write_text("".join(f"{name}\t{code}\n" for name, code in attacks.items()))
    return j


def outcomes(j) -> dict[str, str]:
    lines = (j.out / "r").read_text().splitlines()
    return {line.split(" ", 1)[1].rsplit(" ", 1)[0] if line.startswith("DENIED") else line.split(" ", 1)[1]:
            line.split(" ", 1)[0] for line in lines if line.startswith(("DENIED", "REACHED"))}


def test_no_system_call_reaches_an_undeclared_entry(tmp_path, landlock):
    j = attack_job(tmp_path, ATTACKS)
    assert landlock.run(j) == 0, j.log.read_text()
    got = outcomes(j)
    assert set(got) == set(ATTACKS), (j.out / "r").read_text()
    assert [name for name, result in got.items() if result != "DENIED"] == [], (j.out / "r").read_text()


def test_the_same_means_reach_a_declared_entry(tmp_path, landlock):
    j = attack_job(tmp_path, CONTROLS)
    assert landlock.run(j) == 0, j.log.read_text()
    assert outcomes(j) == {name: "REACHED" for name in CONTROLS}, (j.out / "r").read_text()


def test_more_entries_than_bubblewrap_takes_arguments_are_mounted_instead(tmp_path, landlock):
    """The names were bubblewrap's arguments: from ~8,950 entries on it refused them all
    ("Exceeded maximum number of arguments 9000", exit 1) where the mounts mode built."""
    store = tmp_path / "store"
    store.mkdir()
    deps = {}
    for i in range(sandbox_landlock.MAX_ENTRIES + 1000):
        deps[f"dependency-{i}"] = entry = store / f"{i:032x}-dependency-{i}-1.0"
        entry.mkdir()
    (entry / "f").write_text("the last\n")
    j = job(tmp_path, f"cat /deps/{list(deps)[-1]}/f > /out/f", deps)
    assert landlock.run(j) == 0, j.log.read_text()[-500:]
    assert (j.out / "f").read_text() == "the last\n"


def helper_in(cache: Path, umask: int = 0o022, **env) -> subprocess.CompletedProcess:
    code = "from jbuild.engine import sandbox_landlock as s; print(s.helper()); print(s.why_not())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache), **env}, preexec_fn=lambda: os.umask(umask))


def test_a_cached_helper_another_user_may_change_is_never_run(tmp_path):
    """It confines every build: one another user could replace (their cache directory, or a
    HOME that sudo kept) was run as found. Now the sandbox mounts each entry, and says why."""
    program = Path(helper_in(tmp_path).stdout.split("\n")[0])
    assert program.is_file()
    changes = [lambda: program.chmod(0o777)]  # (one's own directory made group-writable is tightened: below)
    if os.geteuid() == 0:
        changes += [lambda: os.chown(program, 65534, 65534), lambda: os.chown(program.parent, 65534, 65534)]
    for change in changes:
        program.chmod(0o755)
        for path in (program, program.parent):
            os.chown(path, os.geteuid(), os.getegid())
        change()
        found, why = helper_in(tmp_path, JBUILD_CC="/nonexistent").stdout.split("\n")[:2]
        assert found == "None", why
        assert "may be changed by another user" in why and str(program.parent) in why, why


def test_a_user_whose_umask_lets_the_group_write_still_gets_the_helper(tmp_path):
    """umask 002 (user private groups): the cache directory was made group-writable, so the
    check above refused the helper for good. It is made 0755, and an older one is tightened."""
    program = Path(helper_in(tmp_path, umask=0o002).stdout.split("\n")[0])
    assert program.is_file() and program.parent.stat().st_mode & 0o777 == 0o755
    program.parent.chmod(0o775)
    assert helper_in(tmp_path, umask=0o002, JBUILD_CC="/nonexistent").stdout.split("\n")[0] == str(program)
    assert program.parent.stat().st_mode & 0o777 == 0o755


def test_a_damaged_cached_helper_is_built_again(tmp_path):
    """A helper that is no program made every later build fall back to mounts, silently."""
    program = Path(helper_in(tmp_path).stdout.split("\n")[0])
    program.write_bytes(b"garbage")
    assert helper_in(tmp_path).stdout.split("\n")[0] == str(program)
    assert program.read_bytes()[:4] == b"\x7fELF"


def test_two_first_uses_at_once_leave_one_working_helper(tmp_path):
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda _: helper_in(tmp_path).stdout.split("\n")[0], range(2)))
    assert found[0] == found[1]
    assert os.listdir(Path(found[0]).parent) == [Path(found[0]).name]


def test_a_tool_that_finds_itself_with_readlink_builds_with_bwrap_and_is_refused_with_landlock(make_workspace,
                                                                                                tmp_path):
    """`here=$(dirname "$(readlink -f "$0")")`: launchers and *-config scripts. With `--sandbox
    bwrap` (a mount per entry) the path is /deps/<name>; with `--sandbox landlock` it is
    /.store/<entry>, which an output may not name: refused with a message, never kept. The two
    kinds are keyed apart (test_the_two_kinds_are_keyed_apart), so this is no same-key difference."""
    assert BwrapExecutor.landlock_available(), sandbox_landlock.why_not()
    n = BwrapExecutor.stage_from + 1
    tool = textwrap.dedent("""
        package tool { version = "1" build = \"\"\"
        mkdir -p $OUT/bin $OUT/include
        echo '#!/bin/sh' > $OUT/bin/tool-config
        echo 'here=$(dirname "$(readlink -f "$0")")' >> $OUT/bin/tool-config
        echo 'echo -I$here/../include' >> $OUT/bin/tool-config
        chmod +x $OUT/bin/tool-config
        \"\"\" }""")
    blocks = [tool] + [f'package d{i} {{ version = "1" build = "mkdir -p $OUT && echo {i} > $OUT/f" }}'
                       for i in range(n)]
    reqs = ", ".join(f":d{i}" for i in range(n))
    blocks.append(f'package top {{ version = "1" requires = [{reqs}] build_requires = [:tool] '
                  'build = "mkdir -p $OUT && tool-config > $OUT/flags" }')
    root = make_workspace({"BUILD": "\n".join(blocks)})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    r = run_jbuild("build", "//:top", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    (flags,) = (tmp_path / "store").glob("*-top-1/flags")
    assert flags.read_text() == "-I/deps/tool/bin/../include\n"
    r = run_jbuild("build", "//:top", "--sandbox", "landlock", cwd=root, env=env)
    assert r.returncode == 1 and "realpath of /deps/NAME" in r.stdout + r.stderr, r.stdout + r.stderr


def test_the_two_kinds_are_keyed_apart(make_workspace, tmp_path):
    """What a build sees differs between `--sandbox bwrap` and `--sandbox landlock` (/deps/<name>
    a directory or a link, / listable or not: `ls -R`, `find`, `cp -r`, `ls /` tell them apart), so the
    kind is in the key: the same package gives two entries, one per kind, each built in its own."""
    root = make_workspace({"BUILD": textwrap.dedent('''
        package d { version = "1" build = "mkdir -p $OUT/sub && echo 1 > $OUT/sub/f" }
        package top { version = "1" requires = [:d] build = "mkdir -p $OUT && ls -R /deps/ > $OUT/found; ls / > $OUT/ls || true" }
        ''')})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    found = {}
    for kind in ("bwrap", "landlock"):
        r = run_jbuild("build", "//:top", "--sandbox", kind, cwd=root, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "2 built, 0 reused" in r.stderr, r.stderr  # never the other kind's entries
        (top,) = set((tmp_path / "store").glob("*-top-1")) - set(found.values())
        found[kind] = top
    assert "f" in (found["bwrap"] / "found").read_text().split()  # ls -R walks into the mount
    assert (found["landlock"] / "found").read_text().split() == ["/deps/:", "d"]  # and not through the link
    assert (found["landlock"] / "ls").read_text() == "" and "deps" in (found["bwrap"] / "ls").read_text().split()
    r = run_jbuild("build", "//:top", "--sandbox", "landlock", "--remote-executor", "grpc://127.0.0.1:1", cwd=root, env=env)
    assert r.returncode == 2 and "runs locally only" in r.stderr, r.stderr


def test_an_ordinary_user_cannot_reach_an_undeclared_entry_either(tmp_path):
    """The same attacks by a build of an ordinary user (test_store_nonroot.py's): its helper
    built under its own cache, its sandbox made without privilege."""
    from jbuild.engine.store.fsops import force_remove
    from test_store_nonroot import IS_ROOT, USER, User

    home = Path(tempfile.mkdtemp(prefix="jbuild-user-")) if IS_ROOT else tmp_path
    home.chmod(0o755)
    user = User(home)
    driver = home / "driver.py"
    driver.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parent.parent)!r}]
        from jbuild.engine.sandbox import BwrapExecutor
        from test_sandbox_landlock_attacks import ATTACKS, attack_job, outcomes
        assert BwrapExecutor.landlock_available()
        BwrapExecutor.stage_from, BwrapExecutor.landlock = 0, True
        j = attack_job(Path({str(home / "work")!r}), ATTACKS)
        assert BwrapExecutor().run(j) == 0, j.log.read_text()
        print(sorted(outcomes(j).items()))
    """))
    try:
        if IS_ROOT:
            subprocess.run(["chown", "-R", f"{USER}:", str(home)], check=True)
        r = user.run(sys.executable, str(driver), cwd=home)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip() == str(sorted((name, "DENIED") for name in ATTACKS)), r.stdout
    finally:
        if IS_ROOT:
            force_remove(home)


def test_an_output_with_npm_s_node_modules_store_is_accepted(make_workspace, tmp_path):
    """Outputs naming "/.store" were refused in every mode (even without a dependency): npm's
    linked installs keep node_modules/.store (`.bin/x -> ../.store/x@1/...`), npm's own
    sources say so. Only a resolved entry's path, /.store/<32-digit key>-..., is refused."""
    root = make_workspace({"BUILD": textwrap.dedent('''
        package npmlike { version = "1" build = """
        m=$OUT/lib/node_modules
        mkdir -p $m/.store/x@1.0.0/node_modules/x/bin $m/.bin
        echo 'console.log(1)' > $m/.store/x@1.0.0/node_modules/x/bin/x.js
        echo 'linked: install in node_modules/.store, link in place' > $m/README
        ln -s .store/x@1.0.0/node_modules/x $m/x
        ln -s ../.store/x@1.0.0/node_modules/x/bin/x.js $m/.bin/x
        """ }''')})
    r = run_jbuild("build", "//:npmlike", "--sandbox", "bwrap", cwd=root, env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_resolved_entry_path_cut_by_a_chunk_boundary_is_still_refused(tmp_path):
    from jbuild.engine.outputs import CHUNK, OutputError, check_output

    out = tmp_path / "out"
    out.mkdir()
    resolved = b"/.store/" + b"0123456789abcdef" * 2 + b"-dep-1/lib"
    (out / "f").write_bytes(b"x" * (CHUNK - 20) + resolved)
    with pytest.raises(OutputError, match="f contains /.store/0123456789abcdef0123456789abcdef-"):
        check_output(out, list(sandbox_landlock.SANDBOX_PATHS))
    (out / "f").write_bytes(b"x" * (CHUNK - 20) + b"/.store/x@1.0.0/node_modules")
    assert check_output(out, list(sandbox_landlock.SANDBOX_PATHS)) == []
