import os
import time

import pytest
from jbuild.dsl.errors import RecipeError
from jbuild.dsl.loader import Loader
from jbuild.dsl.workspace import Workspace

LIB = """
package lib {
    version = "1.0"
    sources = glob(["src/**/*.c"], exclude = ["src/gen/**"])
}
"""


def age(path, seconds=5):
    """Make a file look written `seconds` ago, past the racy-clean window."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_glob_expansion_respects_exclude_and_subpackages(make_workspace):
    root = make_workspace({"lib/BUILD": LIB, "lib/src/a.c": "", "lib/src/x/b.c": "", "lib/src/gen/g.c": "",
                           "lib/src/sub/BUILD": "", "lib/src/sub/s.c": "", "lib/src/a.h": ""})
    loaded = Loader(Workspace(root)).closure([])
    (pkg,) = Loader(Workspace(root)).package("", "lib")
    assert pkg.files == ("src/a.c", "src/x/b.c")
    assert loaded.targets == {}


def test_second_load_of_unchanged_workspace_does_not_parse(make_workspace):
    root = make_workspace({"lib/BUILD": LIB, "lib/src/a.c": ""})
    for p in [root / "lib/BUILD", root / "lib/src/a.c", root / "lib/src", root / "lib"]:
        age(p)
    first = Loader(Workspace(root))
    first.closure(first.expand(["//..."]))
    assert first.parsed_files == 1
    second = Loader(Workspace(root))
    (pkg,) = second.package("", "lib")
    assert second.parsed_files == 0 and pkg.files == ("src/a.c",)


def test_new_file_matching_a_glob_is_seen_on_the_next_load(make_workspace):
    root = make_workspace({"lib/BUILD": LIB, "lib/src/a.c": ""})
    for p in [root / "lib/BUILD", root / "lib/src/a.c", root / "lib/src", root / "lib"]:
        age(p)
    Loader(Workspace(root)).closure([]) or Loader(Workspace(root)).package("", "lib")
    (root / "lib/src/new.c").write_text("")
    (pkg,) = Loader(Workspace(root)).package("", "lib")
    assert pkg.files == ("src/a.c", "src/new.c")


def test_same_size_edit_within_a_tick_is_reparsed(make_workspace):
    root = make_workspace({"lib/BUILD": 'package lib { version = "1.0" }'})
    st = os.stat(root / "lib/BUILD")
    first = Loader(Workspace(root))
    assert str(first.package("", "lib")[0].version) == "1.0"
    first.save_cache()
    (root / "lib/BUILD").write_text('package lib { version = "2.0" }')
    os.utime(root / "lib/BUILD", ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime
    assert str(Loader(Workspace(root)).package("", "lib")[0].version) == "2.0"


def test_reformatting_changes_nothing_in_the_model(make_workspace):
    a = make_workspace({"p/BUILD": 'package p { version = "1" exports = ["bin"] }'})
    (pa,) = Loader(Workspace(a)).package("", "p")
    (a / "p/BUILD").write_text('# a comment\npackage p {\n    exports = [\n        "bin",\n    ]\n    version = "1"\n}\n')
    (pb,) = Loader(Workspace(a)).package("", "p")
    assert pa == pb


def test_errors_in_several_files_are_all_reported(make_workspace):
    root = make_workspace({"a/BUILD": "package a { verison = \"1\" }", "b/BUILD": "package b {"})
    loader = Loader(Workspace(root))
    with pytest.raises(RecipeError) as info:
        loader.expand(["//..."])
    paths = sorted(d.span.path for d in info.value.diagnostics)
    assert paths == ["a/BUILD", "b/BUILD"]


def test_only_needed_build_files_are_parsed(make_workspace):
    root = make_workspace({"a/BUILD": 'package a { version = "1" requires = [//b:b] }',
                           "b/BUILD": 'package b { version = "1" }',
                           "c/BUILD": "this is not a recipe {{{"})
    loader = Loader(Workspace(root))
    loaded = loader.closure(loader.expand(["//a:a"]))
    assert sorted(str(lb) for lb in loaded.targets) == ["//a:a", "//b:b"]
    assert loader.parsed_files == 2


def test_version_family_and_manual_tags(make_workspace):
    root = make_workspace({"db/BUILD": """
        package pg { version = "9.1" }
        package pg { version = "10.2" }
        test slow { command = "true" tags = ["manual"] }
    """})
    loader = Loader(Workspace(root))
    assert [str(x) for x in loader.expand(["//..."], skip_manual=True)] == ["//db:pg"]
    assert [str(x) for x in loader.expand(["//db:all"])] == ["//db:pg", "//db:slow"]
    family = loader.lookup(__import__("jbuild.dsl.labels", fromlist=["x"]).parse_label("//db:pg"))
    assert sorted(str(t.version) for t in family) == ["10.2", "9.1"]


def test_std_recipes_resolve(make_workspace):
    root = make_workspace({"a/BUILD": 'package a { version = "1" build_requires = [@std//host:cc] }'})
    loader = Loader(Workspace(root))
    loaded = loader.closure(loader.expand(["//a"]))
    (cc,) = [t for lb, ts in loaded.targets.items() if lb.repo == "std" for t in ts]
    assert cc.host_tool is not None and "cc" in cc.host_tool.binaries and "include_dirs" in cc.slots


def test_deleted_named_source_is_an_error_on_the_next_load(make_workspace):
    root = make_workspace({"p/BUILD": 'package p { version = "1" sources = ["a.c", "b.c"] }', "p/a.c": "", "p/b.c": ""})
    for path in [root / "p/BUILD", root / "p/a.c", root / "p/b.c", root / "p"]:
        age(path)
    first = Loader(Workspace(root))
    (pkg,) = first.package("", "p")
    assert pkg.files == ("a.c", "b.c")
    first.save_cache()  # the next load trusts this expansion while the named files exist
    (root / "p/b.c").unlink()
    loader = Loader(Workspace(root))
    assert loader.package("", "p") == []
    assert [d.message for d in loader.diags] == ["sources of 'p': no file 'b.c'"]
