"""Self-integration through slots: the libraries of an environment contribute their headers and
libraries to @std//host:cc's slots, so the standard cc run in `jbuild env run` compiles and links
a user's own program against them; its etc/ is rendered from config."""


def test_cc_in_an_environment_builds_against_what_packages_contributed(example, tmp_path):
    r = example.jbuild("env", "create", "dev", "//services:geotags", "--sandbox", "bwrap")
    assert r.returncode == 0, r.stderr
    prog = tmp_path / "mine.c"
    prog.write_text('#include <geohash.h>\n#include <mini.h>\nint main(void) { return 0; }\n')
    r = example.jbuild("env", "run", "dev", "--", "sh", "-c", "echo $C_INCLUDE_PATH; echo $LIBRARY_PATH")
    assert r.returncode == 0, r.stderr
    include, library = r.stdout.splitlines()[:2]
    assert "-geohash-1.3" in include and "-libc-2.24" in include and "-libc-2.24" in library
    r = example.jbuild("env", "run", "dev", "--", "cc", "-o", str(tmp_path / "mine"), str(prog), "-lgeohash", "-lmini")
    assert r.returncode == 0, r.stderr
    bare = example.jbuild("env", "run", "dev", "--", "env", "-u", "C_INCLUDE_PATH", "cc", "-c", "-o",
                          str(tmp_path / "x.o"), str(prog))
    assert bare.returncode != 0 and "geohash.h" in bare.stderr  # the header comes only from the slot


def test_an_environments_etc_is_rendered_from_config(example):
    r = example.jbuild("env", "create", "db", "//db:tinydb@1.4.2", "--sandbox", "bwrap")
    assert r.returncode == 0, r.stderr
    conf = example.store / "envs" / "db" / "etc" / "tinydb.conf"
    assert "port = 7000" in conf.read_text()
    r = example.jbuild("env", "install", "db", "//db:tinydb_tuning", "--sandbox", "bwrap")
    assert r.returncode == 0, r.stderr
    assert "port = 22333" in conf.read_text()  # the tuning package's setting, a new generation
    r = example.jbuild("env", "rollback", "db")
    assert r.returncode == 0 and "port = 7000" in conf.read_text()
