"""`jbuild env create/install/remove`: a named environment over ONE closure of its targets.

An environment must be consistent (DESIGN §9): each target is built (the ordinary build, with
its no-op path), the run closures of all targets are united, and two different entries of one
label — two versions or flavours of a package — are refused, naming both and the targets that
bring them. Then the union is assembled (environment.py) and becomes the name's next generation
(generations.py). The build and the new generation's root happen under one shared store lock,
so no gc can run between them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from jbuild.base.errors import BadInput, Failed

from ..settings import Options
from ..store import Store
from .environment import Member, assemble
from .generations import Generation, Generations

RenderEtc = Callable[[list[Member]], dict[str, str]]  # members -> etc files (config rendering)


def store_for(opts: Options, cwd: str | None = None) -> Store:
    """The store a workspace command means (the one `jbuild build` there would use)."""
    from jbuild.dsl.workspace import Workspace

    from ..settings import resolve

    return Store(Path(resolve(Workspace.find(cwd), opts).store))


def closure_of(targets: list[str], opts: Options, cwd: str | None = None) -> list[Member]:
    """Build `targets` and unite their run closures; refuse two entries of one label."""
    from ..build import build

    if not targets:
        return []
    if opts.channel:  # prebuilt entries only: download the channel's, then build nothing
        from ..remote.channels import install

        install(opts.channel, targets, store_for(opts, cwd), opts, cwd)
        opts = dataclasses.replace(opts, prebuilt_only=True)
    result = build(list(targets), dataclasses.replace(opts, out_link=None), cwd)
    if result.code != 0:
        raise Failed("the build failed; the environment is unchanged")
    chosen: dict[tuple[str, str], tuple[Member, str]] = {}
    for node, members in result.members:
        for m in members:
            had = chosen.setdefault((m.label, m.output), (m, node))
            if had[0].entry != m.entry:
                raise BadInput(f"{m.label} would be in the environment twice: {had[0].entry} (for {had[1]}) and "
                               f"{m.entry} (for {node}); an environment is one closure: pin one version "
                               "(e.g. //pkg:name@1.2) or leave one target out")
    return sorted((m for m, _ in chosen.values()), key=lambda m: (m.label, m.output))


def _etc(targets: list[str], opts: Options, cwd, members: list[Member], store: Store) -> dict[str, str]:
    """etc/ rendered over the packages of the targets' run closures (config: defaults < settings),
    and `etc/jbuild/toolchain.env`: what the standard cc needs to compile against the headers
    and libraries the packages contributed to its slots (read by `env run` and `env shell`)."""
    from jbuild.dsl.labels import VersionedLabel

    from ..build import plan
    from ..results import run_packages
    from .config import CC, environment_etc, slot_values, toolchain_environment

    if not targets:
        return {}
    p = plan(list(targets), dataclasses.replace(opts, out_link=None), cwd)
    packages = {pkg.label: pkg for r in p.roots for pkg in run_packages(p.node_closure[r], r)}
    etc = environment_etc(packages.values())
    entries = {m.label: store.path(m.entry) for m in members}
    cc = p.loader.lookup(VersionedLabel(CC, None))
    slots = slot_values([*packages.values(), *cc], {lb: entries[str(lb)] for lb in packages if str(lb) in entries})
    toolchain = toolchain_environment(slots)
    if toolchain:
        etc[TOOLCHAIN_FILE] = "".join(f"{k}={v}\n" for k, v in sorted(toolchain.items()))
    return etc


TOOLCHAIN_FILE = "jbuild/toolchain.env"


def _absolute(targets: list[str]) -> list[str]:
    for t in targets:
        if not t.startswith(("//", "@")):
            raise BadInput(f"{t}: a named environment records its targets; give an absolute label (//pkg:name)")
    return targets


def change(name: str, new_targets: Callable[[Generation | None], list[str]], opts: Options,
           cwd: str | None = None, render_etc: RenderEtc | None = None) -> tuple[Generation | None, Generation | None]:
    """Make `new_targets(current generation)` the content of `name`, under the name's lock:
    (previous generation, new one). The new one is None when nothing changed (same environment,
    same targets): no generation is made."""
    store = store_for(opts, cwd)
    gens = Generations(store)
    with gens.lock(name), store.shared():
        before = gens.current(name)
        targets = new_targets(before)
        members = closure_of(targets, opts, cwd)
        etc = render_etc(members) if render_etc else _etc(targets, opts, cwd, members, store)
        env = assemble(store, members, etc, title=name)
        if before is not None and before.env == env.name and before.targets == tuple(targets):
            return before, None
        return before, gens.add(name, env, targets, [m.entry for m in members])


def create(name: str, targets: list[str], opts: Options, cwd=None, render_etc=None):
    def fresh(cur):
        if cur is not None:
            raise BadInput(f"an environment named {name} exists: `jbuild env install {name} ...` changes it, "
                           f"`jbuild env delete {name}` removes it")
        return list(dict.fromkeys(_absolute(targets)))

    return change(name, fresh, opts, cwd, render_etc)


def install(name: str, targets: list[str], opts: Options, cwd=None, render_etc=None):
    def more(cur):
        return list(dict.fromkeys([*_existing(name, cur).targets, *_absolute(targets)]))

    return change(name, more, opts, cwd, render_etc)


def remove(name: str, targets: list[str], opts: Options, cwd=None, render_etc=None):
    def fewer(cur):
        held = _existing(name, cur).targets
        unknown = [t for t in targets if t not in held]
        if unknown:
            raise BadInput(f"{name} does not hold {', '.join(unknown)} (it holds: {', '.join(held) or 'nothing'})")
        return [t for t in held if t not in targets]

    return change(name, fewer, opts, cwd, render_etc)


def _existing(name: str, cur: Generation | None) -> Generation:
    if cur is None:
        raise BadInput(f"no environment named {name}; create it with `jbuild env create {name} TARGET...`")
    return cur


def run_environ(gens: Generations, name: str, base: dict[str, str]) -> dict[str, str]:
    """The variables a command run in `name` gets: its bin/ first on PATH (through the name's
    link, so a switch applies to the next command), JBUILD_ENV. Never LD_LIBRARY_PATH: the
    launchers find the libraries."""
    gens.require(name)
    env = dict(base)
    env["PATH"] = os.pathsep.join(p for p in (str(gens.dir / name / "bin"), base.get("PATH", "/usr/bin:/bin")) if p)
    env["JBUILD_ENV"] = name
    env.update(toolchain_vars(gens.dir / name))
    return env


def toolchain_vars(env_dir: Path) -> dict[str, str]:
    """What the standard cc needs to compile against the environment's packages (its
    `etc/jbuild/toolchain.env`), so a command run in it compiles against them."""
    toolchain = env_dir / "etc" / TOOLCHAIN_FILE
    if not toolchain.is_file():
        return {}
    return dict(line.partition("=")[::2] for line in toolchain.read_text().splitlines() if line)


def ephemeral(targets: list[str], opts: Options, cwd: str | None = None) -> tuple[Path, dict[str, str]]:
    """`jbuild shell`: the environment of `targets`' united run closure, without a name or
    generations (`nix shell`): (its directory, the variables a command run in it gets). The
    link `.jbuild/shell/env` in the workspace keeps it from gc while it is in use."""
    import xxhash
    from jbuild.dsl.workspace import Workspace

    store = store_for(opts, cwd)
    with store.shared():
        members = closure_of(targets, opts, cwd)
        env = assemble(store, members, _etc(targets, opts, cwd, members, store), title="shell")
        here = Workspace.find(cwd).root / ".jbuild" / "shell"
        here.mkdir(parents=True, exist_ok=True)
        link = here / xxhash.xxh3_64_hexdigest(" ".join(sorted(targets)).encode())
        tmp = link.with_name(link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(env)
        os.replace(tmp, link)
        store.add_root(link, [env.name, *(m.entry for m in members)])
    environ = dict(os.environ)
    environ.pop("LD_LIBRARY_PATH", None)
    environ["PATH"] = os.pathsep.join(p for p in (str(env / "bin"), environ.get("PATH", "/usr/bin:/bin")) if p)
    environ["JBUILD_ENV_DIR"] = str(env)
    environ.update(toolchain_vars(env))
    return env, environ
