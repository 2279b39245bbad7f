"""Shell completion (bash, zsh) through click's protocol, completing labels and patterns too.

    eval "$(_JBUILD_COMPLETE=bash_source jbuild)"     # in ~/.bashrc
    eval "$(_JBUILD_COMPLETE=zsh_source jbuild)"      # in ~/.zshrc

Labels contain ':', which bash splits words at (COMP_WORDBREAKS): our bash script hands jbuild
the command line itself, and each answer is trimmed to what readline replaces (the text after
the last word-break character), so `jbuild build //libs:li<TAB>` completes to `//libs:libc`. A completion never prints a
traceback: outside a workspace, or on a broken BUILD file, it offers nothing. The labels
themselves come from label_completion.py (which the commands import without this protocol).
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
