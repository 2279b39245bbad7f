"""jbuild/fast_build.py against click, on command lines built to confuse a hand parser: option
values that start with '-' or '=', repeated options, `-j0`, `-j -1`, `--sandbox=landlock` and
`--sandbox landlock`, flags given values, a lone '-', `--` in odd places, patterns that look
like options. Every answer the fast parser gives must be exactly what click's `build` command
gets (where click refuses, the fast parser must leave the line to click)."""

from helpers import click_build_params
from hypothesis import given, settings
from hypothesis import strategies as st

from jbuild.fast_build import parse

TOKENS = ["//a", ":b", "-//c/...", "--", "-", "=", "-j", "-j0", "-j-1", "-j", "-1", "0", "00", "-j 2", "--jobs=-1",
          "--jobs", "--jobs=", "--sandbox", "--sandbox=landlock", "landlock", "--sandbox=", "--sandbox=Landlock",
          "--store", "--store=", "--store=-", "--store==", "--out-link", "--out-link=--x", "--x", "-kj2", "-k",
          "-k2", "--keep-going", "--keep-going=", "--no-keep-going", "--show-result", "--show-result=-0",
          "--show-result=1_000", "1_000", "--show-result=٣", "--build-events", "--build-events=", "--no-link",
          "--print-out-paths", "--offline", "--offline=", "--strict", "--strict-interfaces", "--verify-inputs",
          "--remote-cache", "--remote-cache=", "--remote-upload", "--no-remote-upload", "--remote-instance", "-n",
          "-h", "--version", "--help=1", "--jobs=1 ", "\t2", "2\n"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=7))
def test_whatever_the_fast_parser_answers_is_clicks_answer(tokens):
    fast = parse(["build", *tokens])
    if fast is not None:
        assert fast == click_build_params(tokens), tokens


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6))
def test_the_label_shortcut_is_the_build_command(tokens):
    """`jbuild //a ARGS` is `jbuild build //a ARGS`."""
    fast = parse(["//a", *tokens])
    if fast is not None:
        assert fast == click_build_params(["//a", *tokens]), tokens
