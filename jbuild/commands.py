"""Where each command lives, imported only when it runs (or its own --help is asked for).

Building every click command at start-up cost more than a no-op build's own work: `jbuild
build` imports build_commands only. `jbuild --help` lists every command from this table's
one-line helps, importing none of them; tests/test_cli_lazy.py checks that each line is what
click derives from the command's own docstring, so the table cannot drift from the commands.
"""

from __future__ import annotations

import importlib

import click

# name -> (module under jbuild, attribute, the one-line help `jbuild --help` shows: click's
# short help of the command, the first sentence of its docstring)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "build": ("build_commands", "build", "Build PATTERNS into the store."),
    "channel": ("cache_commands", "channel_group",
                "What the remote cache's channels hold (`jbuild publish` records them)."),
    "clean": ("workspace_commands", "clean",
              "Forget this workspace's cached analysis: parse, stat and no-op caches, test logs."),
    "deploy": ("image_commands", "deploy",
               "Build TARGET and write Kubernetes manifests for its service and every service it requires."),
    "env": ("env_commands", "env_group",
            "Named environments: a closure's bin/ lib/ include/ share/, etc/ and var/, with generations."),
    "explain": ("build_commands", "explain", "Say, for each target in the closure, why it was built or reused."),
    "fetch": ("build_commands", "fetch",
              "Download the archives and git commits PATTERNS' closure declares, without building."),
    "gc": ("store_commands", "gc",
           "Delete store entries no GC root needs (result links and their closures are roots), then what only "
           "they needed beside the store: their cached test results, image layers, and downloads and host /usr "
           "trees (see --unused-for)."),
    "image": ("image_commands", "image", "Build TARGET and write the OCI image of its run closure."),
    "info": ("workspace_commands", "info",
             "Print where things are: the workspace, its caches, the store, jobs, the sandbox (`bazel info`)."),
    "log": ("build_commands", "log", "Print the build log of LABEL's last build in this workspace."),
    "path-info": ("query_command", "path_info",
                  "Print the store path of each target PATTERNS names (as `nix path-info`), at the current inputs."),
    "plan": ("query_command", "plan", "Say what `jbuild build PATTERNS` would build now, and why — running nothing."),
    "promote": ("cache_commands", "promote",
                "Copy TARGETS' records from channel SOURCE to channel DEST, rebuilding nothing."),
    "publish": ("cache_commands", "publish",
                "Build TARGETS, upload their closures and record them under CHANNEL in the remote cache."),
    "query": ("query_command", "query",
              "Answer a question about the target graph; print the labels, one per line, sorted."),
    "run": ("run_command", "run",
            "Build TARGET, then run it: a package with a service starts with the services it requires, in dependency "
            "order, each once the previous is ready; logs are prefixed with the service's name; Ctrl-C stops them in "
            "reverse order."),
    "shell": ("workspace_commands", "shell",
              "Build TARGETS and start a shell with their run closure's bin/ first on PATH (`nix shell`)."),
    "shutdown": ("server_command", "shutdown", "Stop this workspace's build servers of the current user (as `bazel shutdown`)."),
    "store": ("store_commands", "store_group", "Inspect and repair the store."),
    "test": ("test_command", "test", "Build what PATTERNS need and run the test targets among them, e.g."),
    "watch": ("watch_command", "watch",
              "Build PATTERNS, then rebuild whenever one of their declared inputs changes."),
    "why-depends": ("query_command", "why_depends",
                    "Print how PACKAGE comes to need DEPENDENCY: a chain of requirements, each edge with its kind "
                    "(requires, build_requires, run_requires), at the versions resolution chose for PACKAGE."),
    "worker": ("worker_command", "worker", "Run leased build actions in the bubblewrap sandbox until interrupted."),
}


def load(name: str) -> click.Command:
    """The command itself: its module imported now."""
    module, attr, _ = COMMANDS[name]
    return getattr(importlib.import_module(f"jbuild.{module}"), attr)


class LazyGroup(click.Group):
    """A click group whose table commands are imported on first use, by name."""

    def list_commands(self, ctx) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx, name: str):
        if name not in self.commands and name in COMMANDS:
            self.add_command(load(name), name)
        return self.commands.get(name)

    def format_commands(self, ctx, formatter) -> None:
        """click's listing, from the table for commands not imported yet (a stand-in command
        carrying the one-line help gives click's own shortening of it)."""
        listed = [(name, self.commands.get(name) or click.Command(name, help=COMMANDS[name][2]))
                  for name in self.list_commands(ctx)]
        listed = [(name, cmd) for name, cmd in listed if not cmd.hidden]
        if not listed:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in listed)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in listed])
