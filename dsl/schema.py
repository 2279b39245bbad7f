"""What each block kind may hold: one table drives validation, errors and the reference.

`python -m jbuild.dsl.schema` prints the attribute table of docs/language.md; a test keeps the
two equal.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttrSpec:
    name: str
    type: str  # a converter name in lowering.py
    doc: str
    enters: str  # which key or product the attribute enters (docs/keys.md)
    required: bool = False


def _table(*specs: AttrSpec) -> dict[str, AttrSpec]:
    return {s.name: s for s in specs}


PACKAGE = _table(
    AttrSpec("version", "version", "the version, e.g. \"2.24\", \"1.0.2k\"", "recipe hash, interface key"),
    AttrSpec("summary", "string", "one line saying what it is", "nothing (display only)"),
    AttrSpec("sources", "files", "declared input files: paths, glob(...), archive(...) and git(...)",
             "source hash (an archive's sha256, a git commit id; never a URL)"),
    AttrSpec("interface", "files", "the sources consumers compile against", "interface key"),
    AttrSpec("requires", "requirements", "build-and-run requirements (libraries)",
             "build key (their interface keys); environments"),
    AttrSpec("build_requires", "requirements", "build-only requirements (compilers, generators)",
             "build key (build keys of their run closure)"),
    AttrSpec("run_requires", "requirements", "run-only requirements (a database a service uses)",
             "environments, images, test keys; never build keys"),
    AttrSpec("patches", "patches", "patch files of this package, applied to $SRC in order before the build",
             "source hash (their content), recipe hash (their order)"),
    AttrSpec("patch_strip", "count", "leading path components patch drops (patch -pN; default 1)", "recipe hash"),
    AttrSpec("build", "script", "shell steps run in the sandbox; install into $OUT", "recipe hash"),
    AttrSpec("version_check", "version_check",
             "compare `version` with upstream's: { file = \"zlib.h\", regex = \"...\" } or { command = ..., regex = ... }",
             "recipe hash (as steps of the build script)"),
    AttrSpec("exports", "strings", "output directories linked into environments (none declared: the whole entry "
             "for a build's root and for what a test requires, nothing for a package further down)",
             "environments, test keys"),
    AttrSpec("outputs", "outputs",
             "split $OUT into separate store entries: { bin = [\"bin\"], lib = [\"lib/*.so*\"], "
             "dev = [\"include\", \"lib/*.a\"], doc = [\"share/doc\"] }",
             "recipe hash; what consumers' sandboxes, environments and images see"),
    AttrSpec("slots", "strings", "named slots other packages may contribute paths to", "environments"),
    AttrSpec("etc", "templates", "files of the environment's etc/: { \"NAME.conf\" = \"text with ${config.KEY}\" }",
             "environments (rendered from config; never a build key)"),
    AttrSpec("tags", "strings", "labels for selection, e.g. \"manual\"", "nothing"),
)
PACKAGE_BLOCKS = ("flavours", "config", "settings", "contribute", "service", "host_tool")
BLOCK_ENTERS = {
    "flavours": "recipe hash (the selected values); the store entry's name",
    "config": "nothing at build time; rendered into environments",
    "settings": "environments (sets another package's config)",
    "contribute": "environments (fills another package's slots)",
    "service": "environments, images, deployments",
    "host_tool": "platform fingerprint (binaries, version, Debian package closure) in the build key",
}

TEST = _table(
    AttrSpec("command", "script", "the test program, run in the sandbox; exit 0 passes", "test key",
             required=True),
    AttrSpec("summary", "string", "one line saying what it checks", "nothing (display only)"),
    AttrSpec("sources", "files", "declared input files", "test key"),
    AttrSpec("requires", "requirements", "packages under test (their whole run closure)", "test key"),
    AttrSpec("build_requires", "requirements", "tools the test runs", "test key"),
    AttrSpec("run_requires", "requirements", "services and data the test needs", "test key"),
    AttrSpec("tags", "strings", "labels for selection, e.g. \"manual\"", "nothing"),
)

SERVICE = _table(
    AttrSpec("command", "string", "the command line, relative to the environment", "service", True),
    AttrSpec("ports", "values", "ports it listens on (numbers or config.KEY)", "service"),
    AttrSpec("env", "map", "environment variables", "service"),
    AttrSpec("requires", "requirements", "services to start first (implies run_requires)", "service"),
    AttrSpec("health", "string", "a command that exits 0 once the service is ready", "service"),
    AttrSpec("resources", "map", "resource requests of its container: { cpu = \"100m\", memory = \"64Mi\" }",
             "deployments"),
)
VOLUME = _table(
    AttrSpec("size", "string", "e.g. \"1Gi\"", "service", True),
    AttrSpec("mount", "string", "where it is mounted, e.g. \"/var/lib/db\"", "service", True),
)
HOST_TOOL = _table(
    AttrSpec("binaries", "strings", "host programs this package stands for", "platform fingerprint", True),
    AttrSpec("version_command", "string", "prints the version, e.g. \"cc -dumpfullversion\"",
             "platform fingerprint", True),
    AttrSpec("version_regex", "string", "picks the version out of that output", "platform fingerprint"),
    AttrSpec("debian_packages", "strings",
             "the Debian packages it stands for (default: the owners of its binaries); the sandbox's "
             "/usr holds only their files and their dependency closure",
             "platform fingerprint (the closure's package versions); the sandbox's /usr"),
)

TOP_LEVEL = {"package": PACKAGE, "test": TEST}
CONFIG_TYPES = ("int", "string", "bool", "list")


def reference_table() -> str:
    rows = ["| block | attribute | type | meaning | enters |", "|---|---|---|---|---|"]
    for kind, table in (("package", PACKAGE), ("test", TEST), ("service", SERVICE),
                        ("volume", VOLUME), ("host_tool", HOST_TOOL)):
        for spec in table.values():
            req = " (required)" if spec.required else ""
            rows.append(f"| {kind} | `{spec.name}` | {spec.type}{req} | {spec.doc} | {spec.enters} |")
    for block, enters in BLOCK_ENTERS.items():
        rows.append(f"| package | `{block} {{ ... }}` | block | see below | {enters} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(reference_table())
