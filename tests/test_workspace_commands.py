"""`jbuild shell`, `info`, `clean` and `help language`: what Nix and Bazel users type by habit."""


def test_shell_runs_the_closure_through_its_environment(example):
    r = example.jbuild("shell", "//services:geotags", "-c", 'command -v geotags; geotags 57.64911 10.40744')
    assert r.returncode == 0, r.stderr
    where, geohash, libc = r.stdout.splitlines()
    assert "-env-shell/bin/geotags" in where and where.startswith(str(example.store))
    assert geohash == "u4pruydqqvj" and libc == "hello from minilibc 1"
    # the environment is a GC root while the link lives: gc keeps it
    links = list((example.root / ".jbuild" / "shell").iterdir())
    assert len(links) == 1 and links[0].resolve().name in where
    gc = example.jbuild("gc", "--dry-run")
    assert gc.returncode == 0 and links[0].resolve().name not in gc.stdout + gc.stderr


def test_shell_command_exit_code_is_jbuilds(example):
    r = example.jbuild("shell", "//libs:libc", "-c", "exit 7")
    assert r.returncode == 7


def test_shell_unknown_target_is_bad_input(example):
    r = example.jbuild("shell", "//libs:libcc", "-c", "true")
    assert r.returncode == 2 and "did you mean" in r.stderr and "Traceback" not in r.stderr


def test_info_prints_the_resolved_settings(example):
    (example.root / "jbuild.toml").write_text("[build]\njobs = 3\n")
    r = example.jbuild("info")
    assert r.returncode == 0, r.stderr
    values = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    assert values["workspace"] == str(example.root) and values["store"] == str(example.store)
    assert values["jobs"] == "3"
    assert example.jbuild("info", "store").stdout.strip() == str(example.store)
    bad = example.jbuild("info", "stor")
    assert bad.returncode == 2 and "did you mean 'store'" in bad.stderr


def test_clean_forgets_caches_not_the_store(example):
    first, seen = example.build()
    assert first.returncode == 0 and set(seen.values()) == {"built"}
    assert (example.root / ".jbuild" / "cache").is_dir()
    entries = sorted(p.name for p in example.store.iterdir())
    r = example.jbuild("clean", "--links")
    assert r.returncode == 0 and "removed" in r.stderr
    assert not (example.root / ".jbuild" / "cache").exists() and not (example.root / "result").exists()
    assert sorted(p.name for p in example.store.iterdir()) == entries
    again, seen = example.build()
    assert again.returncode == 0 and set(seen.values()) == {"reused"}


def test_help_language_lists_every_attribute(tmp_path):
    from helpers import run_jbuild
    from jbuild.dsl import schema

    r = run_jbuild("help", "language", cwd=tmp_path)
    assert r.returncode == 0
    for table in (schema.PACKAGE, schema.TEST, schema.SERVICE):
        for name in table:
            assert f"  {name}" in r.stdout
