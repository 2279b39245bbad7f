"""Review: mistakes a new user makes with the merged features — a report path jbuild cannot
write, a version_check whose regex matches nothing, a template argument that is wrong in two
places — get one clear message and the exit code of CONVENTIONS.md, never a traceback."""

from helpers import run_jbuild

HELLO_TEST = '''
test hello_test {
    build_requires = [@std//host:sh]
    command = "true"
}
'''


def test_junit_xml_where_no_file_can_be_created_is_exit_2_before_anything_runs(make_workspace, tmp_path):
    # os.access() says root may write in /proc; creating a file there fails all the same.
    ws = make_workspace({"BUILD": HELLO_TEST})
    r = run_jbuild("test", "//:hello_test", "--junit-xml", "/proc/report.xml", cwd=ws,
                   env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "--junit-xml /proc/report.xml: cannot write a file there" in r.stderr
    assert not (ws / "jbuild-testlogs").exists()  # refused before any test ran


LIB = '''
package x = cc_library(["geo.c"], version = "1.3", hdrs = ["include/geo.h"],
                       version_check = { file = "include/geo.h", regex = "GEO_VERSION \\"([0-9.]+)\\"" })
'''


def test_a_version_check_regex_that_matches_nothing_says_so(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": LIB, "geo.c": "int geo(void) { return 1; }\n",
                         "include/geo.h": "int geo(void);\n"})
    r = run_jbuild("build", "//:x", cwd=ws, env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert "nothing in include/geo.h matches the regex GEO_VERSION" in out
    assert "says ''" not in out  # not "upstream says the version is empty"


def test_a_missing_header_given_to_a_template_is_reported_once_per_attribute(make_workspace):
    ws = make_workspace({"BUILD": 'package x = cc_library(["geo.c"], version = "1.3", hdrs = ["include/no.h"])\n',
                         "geo.c": "int geo(void) { return 1; }\n"})
    r = run_jbuild("build", "//:x", cwd=ws)
    assert r.returncode == 2
    assert r.stderr.count("sources of 'x': no file 'include/no.h'") == 1, r.stderr


SERVICE = '''
package svc {
    version = "1.0"
    build_requires = [@std//host:sh]
    build = "mkdir -p $OUT/bin && printf '#!/bin/sh\\\\necho hi\\\\n' > $OUT/bin/svc && chmod +x $OUT/bin/svc"
    service { command = "bin/svc" }
}
'''


def test_outputs_where_no_file_can_be_created_are_exit_2_not_a_traceback(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": SERVICE})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    for args in (["image", "//:svc", "-o", "/proc/svc.tar"], ["image", "//:svc", "-o", "/proc/layout/"],
                 ["deploy", "//:svc", "--k8s", "-o", "/proc/k8s"],
                 ["build", "//:svc", "--build-events", "/proc/events.json"]):
        r = run_jbuild(*args, cwd=ws, env=env)
        assert r.returncode == 2, (args, r.stdout + r.stderr)
        assert "Traceback" not in r.stderr and "error: " in r.stderr, (args, r.stderr)
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").glob("*-svc-1.0"))  # refused first
