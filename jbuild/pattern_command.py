"""A command taking PATTERNS, whose bad option says how to subtract: `jbuild build //... -//libs/...`
gave click's `No such option '-/'`, with nothing about the `--` it needs (Bazel takes `-//x/...`
after `--` too)."""

from __future__ import annotations

import click


class PatternCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # (click's parser consumes `args`)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption:
            bad = next((a for a in given if a.startswith(("-/", "-:", "-@"))), None)
            if bad is None:
                raise
            rest = " ".join(a for a in given if a != bad)
            raise click.UsageError(f"{bad!r} looks like a subtracted pattern, which needs '--' before the patterns: "
                                   f"jbuild {ctx.info_name} -- {rest} {bad}", ctx) from None
