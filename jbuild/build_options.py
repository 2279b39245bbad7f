"""The options of `jbuild build` (and the groups other commands share), as plain data: click's
options are made from these rows (build_commands.py), and the fast parser (fast_build.py) reads
the same rows, so the two cannot drift. Imports no click: the fast path reads it on every build.

A row: click's declarations, the parameter's name, its kind, its default, its help, whether the
fast parser may read it, and click's other settings (plain values). Kinds: `int` (digits), `count`
(digits, at least 0), `sandbox` (one of SANDBOXES), `path`, `file` (a path, not a directory),
`text`, `flag` (present: True), `switch` (`--x/--no-x`: True or False).
"""

from __future__ import annotations

SANDBOXES = ["auto", "bwrap", "landlock", "fallback"]
SHOW_RESULT = 20  # roots listed one per line by default: a handful of targets, never all of //... at 10,000


def _row(decls: tuple[str, ...], name: str, kind: str, default, help: str, fast: bool = True, **click) -> dict:
    return {"decls": decls, "name": name, "kind": kind, "default": default, "help": help, "fast": fast,
            "click": click}


JOBS = _row(("-j", "--jobs"), "jobs", "int", None,
            "Actions at once (default: [build] jobs in jbuild.toml, else the core count).")
KEEP_GOING = _row(("-k", "--keep-going/--no-keep-going"), "keep_going", "switch", None,
                  "Build what does not depend on a failure (default: [build] keep_going in jbuild.toml, "
                  "else on under CI=true, else off).")
STRICT = _row(("--strict",), "strict", "flag", None,
              "Release mode: a dependency enters its consumers' keys with its full build key (Nix-like).")
SANDBOX = _row(("--sandbox",), "sandbox", "sandbox", "auto",
               "bwrap (bubblewrap, one mount per dependency), landlock (bubblewrap over one bind of the "
               "store, Landlock naming the dependencies: faster for many; keyed apart, docs/keys.md), "
               "or the weaker fallback; auto picks bwrap where it works.", show_default=True)
STORE = _row(("--store",), "store", "path", None,
             "The store directory (else JBUILD_STORE, then [store] path in jbuild.toml, then ~/.cache/jbuild/store).")
REMOTE_CACHE = _row(("--remote-cache",), "remote_cache", "text", None,
                    "A shared HTTP cache (/ac/, /cas/; docs/cache.md), tried after the store "
                    "(else JBUILD_REMOTE_CACHE, then [cache] url; '' for none).", metavar="URL")
REMOTE_UPLOAD = _row(("--remote-upload/--no-remote-upload",), "remote_upload", "switch", None,
                     "Upload what this build makes to the remote cache (default: [cache] upload, else on).")
REMOTE_EXECUTOR = _row(("--remote-executor",), "remote_executor", "text", None,
                       "Run actions on a Remote Execution API server (e.g. BuildGrid); grpcs:// is TLS, with a "
                       "bearer token from JBUILD_REMOTE_TOKEN. See docs/remote.md.",
                       fast=False, metavar="grpc[s]://HOST:PORT")
REMOTE_INSTANCE = _row(("--remote-instance",), "remote_instance", "text", "",
                       "The instance name on the --remote-executor server.", fast=False)
REMOTE_CA_CERT = _row(("--remote-ca-cert",), "remote_ca_cert", "file", None,
                      "Trust these PEM CA certificates for a grpcs:// --remote-executor (default: the system's).",
                      fast=False, envvar="JBUILD_REMOTE_CA_CERT")

RUNNING = [JOBS, KEEP_GOING]
PLANNING = [STRICT, SANDBOX, STORE]
REMOTE = [REMOTE_CACHE, REMOTE_UPLOAD]
EXECUTOR = [REMOTE_EXECUTOR, REMOTE_INSTANCE, REMOTE_CA_CERT]
# `jbuild build`'s own, after the groups above (in --help's order)
BUILD_ONLY = [
    _row(("--strict-interfaces",), "strict_interfaces", "flag", False,
         "Fail a package whose measured exported interface changed although its declared "
         "interface did not (for CI), instead of rebuilding its consumers."),
    _row(("--verify-inputs",), "verify_inputs", "flag", False,
         "Re-hash every store entry the build reuses (not only stat it); a changed one is rebuilt."),
    _row(("--build-events",), "build_events", "path", None, "Write one JSON object per event to FILE."),
    _row(("--out-link",), "out_link", "text", None,
         "Name of the result link (a GC root); several targets get NAME, NAME-2, ... Default: `result`, "
         f"for a build of at most {SHOW_RESULT} roots; beyond that (`//...` of a large workspace) no links "
         "unless this option is given, as with --no-link."),
    _row(("--no-link",), "no_link", "flag", False, "Do not create a result link."),
    _row(("--show-result",), "show_result", "count", SHOW_RESULT,
         "Say where each root landed (`NODE up to date: PATH`) when there are at most N roots; beyond "
         "that one summary line (with `//...` at thousands of packages, printing is a cost).",
         show_default=True, metavar="N"),
    _row(("--print-out-paths",), "print_out_paths", "flag", False,
         "Print the store path of each root on stdout (of each output, for a package that declares outputs)."),
    _row(("-n", "--dry-run"), "dry_run", "flag", False,
         "Run nothing: say what would build and why, from the predicted keys (as `jbuild plan`).", fast=False),
    _row(("--offline",), "offline", "flag", None,
         "Never use the network: archives and git commits come from the download cache or "
         "[fetch] mirrors (also JBUILD_OFFLINE=1, or [fetch] offline = true)."),
]
BUILD = RUNNING + PLANNING + REMOTE + EXECUTOR + BUILD_ONLY
