"""Shell completion (bash, zsh) through click's protocol, completing labels and patterns too.

    eval "$(_JBUILD_COMPLETE=bash_source jbuild)"     # in ~/.bashrc
    eval "$(_JBUILD_COMPLETE=zsh_source jbuild)"      # in ~/.zshrc

Labels contain ':', which bash splits words at (COMP_WORDBREAKS): our bash script hands jbuild
the command line itself, and each answer is trimmed to what readline replaces (the text after
the last word-break character), so `jbuild build //libs:li<TAB>` completes to `//libs:libc`. A completion never prints a
traceback: outside a workspace, or on a broken BUILD file, it offers nothing.
"""

from __future__ import annotations

import os

from click.shell_completion import BashComplete, CompletionItem, add_completion_class, split_arg_string

_SOURCE_BASH = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response
    response=$(env COMP_LINE="${COMP_LINE:0:$COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" \\
               %(complete_var)s=bash_complete $1)
    for completion in $response; do
        IFS=',' read type value <<< "$completion"
        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            [[ "$value" == *: || "$value" == */ ]] && compopt -o nospace 2>/dev/null
            COMPREPLY+=("$value")
        fi
    done
    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""
DEFAULT_WORDBREAKS = " \t\n\"'><=;|&(:"  # bash's default COMP_WORDBREAKS


class LabelAwareBash(BashComplete):
    """click's bash completion, fed the command line rather than bash's ':'-split words."""

    source_template = _SOURCE_BASH

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ.get("COMP_LINE", "")
        words = split_arg_string(line)
        if not line or line[-1].isspace():
            args, incomplete = words[1:], ""
        else:
            args, incomplete = words[1:-1], words[-1] if words else ""
        # What readline will replace: the text after the last word-break character.
        breaks = os.environ.get("COMP_WORDBREAKS") or DEFAULT_WORDBREAKS
        replaced = line[max((line.rfind(c) for c in breaks), default=-1) + 1:]
        self._drop = incomplete[:max(0, len(incomplete) - len(replaced))]
        return args, incomplete

    def format_completion(self, item: CompletionItem) -> str:
        """Each answer trimmed to the part readline replaces (`libc` for `//libs:li`)."""
        value = item.value
        drop = getattr(self, "_drop", "")
        if item.type == "plain" and drop and value.startswith(drop):
            value = value[len(drop):]
        return f"{item.type},{value}"


def install() -> None:
    add_completion_class(LabelAwareBash, "bash")


def complete_labels(ctx, param, incomplete: str) -> list[CompletionItem]:
    """click's `shell_complete` for PATTERN arguments: labels and patterns of the workspace of
    the current directory. In a query expression, the word after the last '(', ',' or space."""
    try:
        cut = max(incomplete.rfind(c) for c in "(, ")
        head, tail = incomplete[:cut + 1], incomplete[cut + 1:]
        sign = "-" if tail.startswith("-") else ""
        return [CompletionItem(head + sign + c) for c in candidates(tail[len(sign):])]
    except Exception:  # noqa: BLE001 - completion must never print a traceback into a shell
        return []


def candidates(text: str, cwd: str | None = None) -> list[str]:
    """Labels and patterns starting with `text`: package names and patterns until a ':' is
    typed, then the targets of that one package (read through the loader's parse cache)."""
    from jbuild.dsl.errors import RecipeError
    from jbuild.dsl.loader import Loader
    from jbuild.dsl.workspace import Workspace

    try:
        ws = Workspace.find(cwd)
    except RecipeError:
        return []
    repo, prefix = ("std", "@std//") if text.startswith("@") else ("", "//")
    if text.startswith(":"):
        package, prefix = ws.package_of(cwd or os.getcwd()), ""
    elif not (prefix.startswith(text) or text.startswith(prefix)):
        return []
    elif ":" in text[len(prefix):]:
        package = text[len(prefix):].split(":", 1)[0]
    else:
        pkgs = ws.packages_under(repo, "")
        found = [f"{prefix}{p}:" for p in pkgs] + [f"{prefix}{p}/..." for p in pkgs if p] + [f"{prefix}..."]
        return sorted(c for c in found if c.startswith(text))
    loader = Loader(ws)
    names = sorted({t.label.name for t in loader.package(repo, package) or ()} | {"all"})
    loader.save_cache()
    start = f"{prefix}{package}:" if prefix else ":"
    return [start + n for n in names if (start + n).startswith(text)]

