"""jbuild against ninja on the same synthetic distribution, in one run; prints one table.

libc at the bottom (a real shared library built with cc, its header declared as its
interface), N packages in layers, each requiring libc and a few earlier packages; trivial
shell actions. ninja builds the same graph unsandboxed, its consumers depending on libc's
exported symbols through a `restat` step (so a libc implementation patch is one compile there
too). Steps, each jbuild then ninja (or ninja first, every other round), `--rounds` times where
repeatable, medians reported:

  full build       jbuild sandboxed (bubblewrap) vs ninja unsandboxed
  no-op            nothing changed
  no-op, links     the same with a `result` link and a GC root per root (`--out-link result`: the
                   CLI's default makes none for more than 20 roots), its links made once before the
                   timed runs; the steps after it pass --no-link
  leaf edit        one source of the last package changed
  libc impl patch  libc's function body changed, its header not
  BUILD edit       one package's build script changed in the BUILD file (ninja: its edge's command
                   in build.ninja); at 10,000 packages the BUILD file is one 2 MB file
  libc patch, links  the libc patch with `--out-link result`: every root's environment (its run
                   closure holds libc) made again, with its link and GC root (step `patchlinks`,
                   not in the defaults: minutes at 10,000; ninja makes no environments)

then the sandbox's floor: ninja's full build again, each copy edge in bubblewrap as jbuild's
sandbox makes it, running the same script (the least a sandboxed build of this graph costs); and
per-action figures: jbuild's full build per action per worker against a bare `bwrap ... true`
measured in the same run (bench/sandbox_bench.py times the executor alone).
Peak RSS is each jbuild process's own (wait4). The machine's load is printed with each step.

    .venv/bin/python bench/engine_bench.py --packages 1000 [--jobs 2] [--rounds 5]

At 10,000 packages the full build is long: `--keep` keeps the workspace and store, and
`--reuse DIR` measures the repeated steps again on it (`--steps noop,edit,patch` picks some).
Children run with bytecode caches written (PYTHONDONTWRITEBYTECODE is dropped), as installed.

`--server` runs jbuild's steps through the workspace's build server (JBUILD_SERVER=1,
jbuild/server.py; without it, JBUILD_SERVER=0: in-process, though the server is jbuild's
default): the server is started and warmed outside the timed steps (by the catch-up or
full build, and one more no-op build), so each timed run is the thin client plus the server's
build; the RSS column is then the client's, and the server's RSS is printed after the table.
`jbuild shutdown` stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sandbox_bench import bare_argv  # noqa: E402

LIBC_C = "int libc_answer(void) {{ return {}; }}\n"


def generate(root: Path, ninja_dir: Path, n: int) -> None:
    rng = random.Random(1)
    (root / "jbuild.toml").write_text("")
    (root / "libc").mkdir()
    (root / "libc" / "impl.c").write_text(LIBC_C.format(1))
    (root / "libc" / "api.h").write_text("int libc_answer(void);\n")
    blocks = ["""package libc {
    version = "2.24"
    sources = ["libc/impl.c", "libc/api.h"]
    interface = ["libc/api.h"]
    build_requires = [@std//host:cc]
    build = \"\"\"
        mkdir -p $OUT/lib $OUT/include
        cc -shared -fPIC -o $OUT/lib/libc.so $SRC/libc/impl.c
        cp $SRC/libc/api.h $OUT/include/
    \"\"\"
}"""]
    # ninja builds in a directory of its own, from jbuild's workspace files. Consumers depend on
    # libc's exported symbols, written only when they change (restat): ninja's best case.
    ninja = [f"ws = {root}\nrule cp\n  command = cat $in > $out\n",
             "rule cc\n  command = cc -shared -fPIC -o $out $in\n",
             "rule iface\n  command = nm -D --defined-only $in > $out.tmp && "
             "(cmp -s $out.tmp $out && rm $out.tmp || mv $out.tmp $out)\n  restat = 1\n",
             "build out/libc.so: cc $ws/libc/impl.c\nbuild out/libc.iface: iface out/libc.so\n",
             "build out/api.h: cp $ws/libc/api.h\n"]
    (root / "src").mkdir()
    for i in range(n):
        deps = sorted({rng.randrange(i) for _ in range(3)}) if i else []
        (root / "src" / f"p{i}.txt").write_text(f"{i}\n")
        reqs = ", ".join([":libc"] + [f":p{d}" for d in deps])
        blocks.append(f"""package p{i} {{
    version = "1.0"
    sources = ["src/p{i}.txt"]
    interface = ["src/p{i}.txt"]
    requires = [{reqs}]
    build = "mkdir -p $OUT && cat $SRC/src/p{i}.txt > $OUT/p{i}"
}}""")
        implicit = " ".join(["out/libc.iface", "out/api.h"] + [f"out/p{d}" for d in deps])
        ninja.append(f"build out/p{i}: cp $ws/src/p{i}.txt | {implicit}\n")
    (root / "BUILD").write_text("\n".join(blocks))
    ninja_dir.mkdir()
    (ninja_dir / "build.ninja").write_text("".join(ninja))
    boxed = ninja_dir.parent / (ninja_dir.name + "-bwrap")
    boxed.mkdir()
    (boxed / "build.ninja").write_text("".join(ninja).replace(ninja[0], boxed_copy_rule(root, boxed), 1))


def boxed_copy_rule(root: Path, boxed: Path) -> str:
    """ninja's copy rule with each edge in bubblewrap as jbuild's sandbox makes it (its
    namespaces but the network, which ninja's own user and network namespace gives, one for the
    build as jbuild's stager makes one per worker; pid 1, no capabilities, /proc and /dev, the
    workspace read-only, the output directory writable: engine/sandbox.py), running the action's
    script as jbuild's does (sh: mkdir, cat): the least a sandboxed build of this graph costs,
    without any build system's own work."""
    (boxed / "out").mkdir()
    usr = bare_argv()[2:-1]  # (after bwrap --unshare-all: /usr and the /bin links)
    box = " ".join([bare_argv()[0], "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try",
                    *usr, "--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                    "--proc", "/proc", "--dev", "/dev", "--ro-bind", str(root), str(root),
                    "--bind", str(boxed / "out"), str(boxed / "out"), "--chdir", str(boxed)])
    return f"ws = {root}\nrule cp\n  command = {box} /bin/sh -c 'mkdir -p out && cat $in > $out'\n"


@dataclass
class Run:
    seconds: float
    actions: int
    rss_mib: float = 0.0


def run(cmd, cwd, env=None) -> tuple[float, str, float]:
    """(wall seconds, output, peak RSS in MiB of this child alone)."""
    start = time.perf_counter()
    env = {**os.environ, **(env or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: start-up reads bytecode, not sources
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"{cmd} failed:\n{out[-3000:]}")
    return seconds, out, usage.ru_maxrss / 1024


@dataclass
class Bench:
    root: Path
    jobs: int
    sandbox: str = "bwrap"
    server: bool = False
    rows: list = field(default_factory=list)

    @property
    def ninja_dir(self) -> Path:
        return self.root.parent / (self.root.name + "-ninja")

    @property
    def store(self) -> Path:
        return self.root.parent / (self.root.name + "-store")

    def env(self) -> dict:
        return {"JBUILD_STORE": str(self.store), "JBUILD_SERVER": "1" if self.server else "0"}  # (the server: the default)

    def jbuild(self, links: bool = False) -> Run:
        events = self.root.parent / (self.root.name + "-events.json")
        cmd = [sys.executable, "-m", "jbuild", "build", "//...", "-j", str(self.jobs), "--sandbox", self.sandbox,
               *(["--out-link", "result"] if links else ["--no-link"]), "--build-events", str(events)]
        seconds, _, rss = run(cmd, self.root, self.env())
        actions = sum(1 for x in events.read_text().splitlines() if json.loads(x)["event"] == "action_executed")
        return Run(seconds, actions, rss)

    def ninja(self) -> Run:
        seconds, out, rss = run(["ninja", "-j", str(self.jobs)], self.ninja_dir)
        actions = sum(1 for line in out.splitlines() if re.match(r"\[\d+/\d+\] ", line))  # one line per edge run
        return Run(seconds, actions, rss)

    def boxed_ninja(self) -> Run:
        """ninja's full build with each copy edge in bubblewrap (boxed_copy_rule)."""
        seconds, out, rss = run(["unshare", "--user", "--map-root-user", "--net", "ninja", "-j", str(self.jobs)],
                                self.ninja_dir.parent / (self.ninja_dir.name + "-bwrap"))
        return Run(seconds, sum(1 for line in out.splitlines() if re.match(r"\[\d+/\d+\] ", line)), rss)

    def warm_host_roots(self) -> float:
        """Assemble the store's sandbox /usr trees (once per store, hostroot.py) outside the
        timed steps: seconds taken."""
        warm = self.root.parent / (self.root.name + "-warm")
        warm.mkdir()
        (warm / "jbuild.toml").write_text("")
        (warm / "BUILD").write_text('package a { version = "1" build_requires = [@std//host:cc] build = "mkdir -p $OUT" }\n'
                                    'package b { version = "1" build = "mkdir -p $OUT" }\n')
        seconds, _, _ = run([sys.executable, "-m", "jbuild", "build", "//...", "--sandbox", self.sandbox, "--no-link"],
                            warm, {"JBUILD_STORE": str(self.store)})
        shutil.rmtree(warm)
        return seconds

    def step(self, name: str, rounds: int, edit=None, links: bool = False) -> None:
        """`rounds` times: edit (if any), then both tools, alternating which goes first."""
        js, ns = [], []
        for r in range(rounds):
            if edit:
                edit(r)
            if r % 2:
                ns.append(self.ninja())
                js.append(self.jbuild(links))
            else:
                js.append(self.jbuild(links))
                ns.append(self.ninja())
        self.rows.append((name, js, ns, os.getloadavg()[0]))

    def server_rss(self) -> str:
        """The build server's resident size now (its pid from its log: jbuild/server.py)."""
        logs = sorted((self.root / ".jbuild" / "cache" / f"server-{os.getuid()}").glob("*.log"),
                      key=lambda p: p.stat().st_mtime)
        pids = re.findall(r"\(pid (\d+)\)", logs[-1].read_text()) if logs else []
        try:
            status = Path(f"/proc/{pids[-1]}/status").read_text()
        except (IndexError, OSError):
            return "build server: not found"
        return "build server RSS: " + re.search(r"VmRSS:\s*(.*)", status)[1]

    def shutdown(self) -> None:
        subprocess.run([sys.executable, "-m", "jbuild", "shutdown"], cwd=self.root, env={**os.environ, **self.env()},
                       capture_output=True)

    def table(self) -> str:
        lines = [f"{'step':16} {'jbuild s':>9} {'actions':>7} {'ninja s':>8} {'actions':>7} {'ratio':>6} "
                 f"{'jbuild RSS MiB':>14} {'load':>5}"]
        for name, js, ns, load in self.rows:
            tj, tn = statistics.median(r.seconds for r in js), statistics.median(r.seconds for r in ns)
            lines.append(f"{name:16} {tj:9.3f} {js[-1].actions:7d} {tn:8.3f} {ns[-1].actions:7d} "
                         f"{tj / max(tn, 1e-3):6.1f} {max(r.rss_mib for r in js):14.0f} {load:5.2f}")
        return "\n".join(lines)


def edit_recipe(root: Path, ninja_dir: Path, i: int, mark: str) -> None:
    """Change package p{i}'s build script in the one large BUILD file (a shell comment, on the
    same line), and its edge's command in build.ninja: the BUILD-file edit of each tool."""
    build = root / "BUILD"
    line = re.compile(rf'^(    build = ".*> \$OUT/p{i})(?: #[^"]*)?"$', re.M)
    build.write_text(line.sub(lambda m: f'{m[1]} # {mark}"', build.read_text(), count=1))
    ninja = ninja_dir / "build.ninja"
    edge = re.compile(rf"^(build out/p{i}: cp .*\n)(  command = .*\n)?", re.M)
    ninja.write_text(edge.sub(lambda m: f"{m[1]}  command = cat $ws/src/p{i}.txt > out/p{i}  # {mark}\n",
                              ninja.read_text(), count=1))


def per_action(bench: Bench, boxed: Run, runs: int = 20) -> str:
    """jbuild's full build per action per worker, against ninja's with each edge in bubblewrap
    (the same graph, script and jobs: what sandboxing it costs with no build system's work), and
    against a bare bubblewrap run now: running `true`, and running an action's own script (sh:
    mkdir, cat), which separates jbuild's own cost from the script's."""
    _, js, ns, _ = bench.rows[0]
    full = js[0]
    floor = (f"ninja with each edge in bubblewrap: {boxed.seconds:.3f} s ({boxed.seconds / ns[0].seconds:.1f}x ninja "
             f"unsandboxed; jbuild {full.seconds / boxed.seconds:.1f}x it), "
             f"{boxed.seconds * bench.jobs / max(boxed.actions, 1) * 1000:.1f} ms per action\n")
    src = bench.root / "src" / "p0.txt"
    script = [*bare_argv()[:-1], "--tmpfs", "/out", "--ro-bind", str(src), "/src/src/p0.txt",
              "/bin/sh", "-c", "mkdir -p /out/o && cat /src/src/p0.txt > /out/o/p0"]
    bare, scripted = [], []
    for _ in range(runs):
        for argv, times in ((bare_argv(), bare), (script, scripted)):
            start = time.perf_counter()
            subprocess.run(argv, check=True)
            times.append(time.perf_counter() - start)
    each = full.seconds * bench.jobs / max(full.actions, 1)
    b, s = statistics.median(bare), statistics.median(scripted)
    return floor + (f"per action (full build wall x jobs / actions): {each * 1000:.1f} ms; bare `bwrap ... true`: "
            f"{b * 1000:.1f} ms, bare bwrap running the action's script: {s * 1000:.1f} ms (medians of {runs}); "
            f"ratios {each / b:.1f}, {each / s:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="repetitions of no-op, edit, patch and BUILD edit (medians)")
    ap.add_argument("--sandbox", default="bwrap", choices=("bwrap", "landlock"),
                    help="jbuild's --sandbox (landlock: one bind of the store; keyed apart from bwrap)")
    ap.add_argument("--keep", action="store_true", help="keep the workspace, store and ninja directory")
    ap.add_argument("--reuse", type=Path, metavar="DIR",
                    help="a workspace kept by --keep (built once): skip generating it and the full build")
    ap.add_argument("--steps", default="full,noop,links,edit,patch,buildedit",
                    help="which steps to run, comma-separated from full,noop,links,edit,patch,buildedit,patchlinks (links: the "
                         "no-op with a result link per root (--out-link result); buildedit: "
                         "one package's build script changed in the BUILD file; patchlinks: the libc patch with links, not "
                         "in the defaults; the full build always "
                         "runs, unless --reuse: the others start from its store)")
    ap.add_argument("--server", action="store_true",
                    help="jbuild's runs through the workspace's build server (JBUILD_SERVER=1), warmed before the "
                         "timed steps; shut down at the end")
    args = ap.parse_args()
    root = args.reuse.resolve() if args.reuse else Path(tempfile.mkdtemp(prefix="jbuild-engine-bench-"))
    bench = Bench(root, args.jobs, args.sandbox, args.server)
    steps = set(args.steps.split(","))
    try:
        if args.reuse:
            args.packages = len(list((root / "src").iterdir()))
            bench.step("catch up", 1)  # whatever the last use left changed
            bench.rows.clear()
        else:
            generate(root, bench.ninja_dir, args.packages)
            warm = bench.warm_host_roots()
            bench.step("full build", 1)
            boxed = bench.boxed_ninja()
        if args.server:
            bench.jbuild()  # (the server's warm-up: its first build restored the session from disk)
        leaf = root / "src" / f"p{args.packages - 1}.txt"
        stamp = time.time_ns()  # a reused workspace's edits must differ from its last ones
        if "noop" in steps:
            bench.step("no-op", args.rounds)
        if "links" in steps:
            bench.jbuild(links=True)  # (the links and their environments, made once: not timed)
            bench.step("no-op, links", args.rounds, links=True)
        if "edit" in steps:
            bench.step("leaf edit", args.rounds, lambda r: leaf.write_text(f"edit {stamp} {r}\n"))
        if "patch" in steps:
            bench.step("libc impl patch", args.rounds,
                       lambda r: (root / "libc" / "impl.c").write_text(LIBC_C.format(stamp % 100000 + r + 2)))
        if "buildedit" in steps:
            bench.step("BUILD edit", args.rounds,
                       lambda r: edit_recipe(root, bench.ninja_dir, args.packages // 2, f"edit {stamp} {r}"))
        if "patchlinks" in steps:
            bench.jbuild(links=True)  # (the links of whatever the steps before changed: not timed)
            bench.step("libc patch, links", args.rounds, links=True,
                       edit=lambda r: (root / "libc" / "impl.c").write_text(LIBC_C.format(stamp % 100000 + r + 50002)))
        print(f"{args.packages} packages, -j {args.jobs}, {args.rounds} rounds; {os.cpu_count()} cores")
        if not args.reuse:
            print(f"(sandbox /usr trees assembled first, once per store: {warm:.1f} s)")
        print(bench.table())
        if args.server:
            print(bench.server_rss())
        if not args.reuse:
            print(per_action(bench, boxed))
    finally:
        if args.server:
            bench.shutdown()
        if args.keep or args.reuse:
            print(f"kept: {root} (--reuse {root})")
        else:
            subprocess.run(["chmod", "-R", "u+w", str(bench.store)], capture_output=True)
            for d in (root, bench.store, bench.ninja_dir, bench.ninja_dir.parent / (bench.ninja_dir.name + "-bwrap")):
                shutil.rmtree(d, ignore_errors=True)
            (root.parent / (root.name + "-events.json")).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
