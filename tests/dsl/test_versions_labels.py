import pytest
from jbuild.dsl.labels import Label, LabelError, parse_label, parse_pattern
from jbuild.dsl.versions import Constraint, Version, VersionError


@pytest.mark.parametrize("lower,higher", [
    ("1.0~rc1", "1.0"), ("1.0", "1.0.2"), ("1.0.2", "1.0.2k"), ("1.0.2k", "1.0.2l"),
    ("9.1.24", "9.1.24-r1"), ("2.9", "2.24"), ("9.1.24", "10"), ("1.0.2k", "1.1"),
])
def test_debian_ordering(lower, higher):
    assert Version.parse(lower) < Version.parse(higher)
    assert not Version.parse(higher) < Version.parse(lower)


def test_equal_versions_hash_alike():
    assert Version.parse("1.0") == Version.parse("1.00")
    assert len({Version.parse("1.0"), Version.parse("1.00")}) == 1


@pytest.mark.parametrize("text", ["", "v1", "1 2", "1/2", "x.y"])
def test_not_versions(text):
    with pytest.raises(VersionError):
        Version.parse(text)


def test_constraints():
    c = Constraint.parse(">= 9.1 < 10")
    assert str(c) == ">=9.1,<10"
    assert c.admits(Version("9.1.24")) and c.admits(Version("9.1"))
    assert not c.admits(Version("10")) and not c.admits(Version("9.0.9"))
    assert Constraint.parse(">=9.1,<10") == c
    assert Constraint().admits(Version("0"))
    with pytest.raises(VersionError):
        Constraint.parse("about 2")


def test_labels():
    assert parse_label("//services:geotags").label == Label("", "services", "geotags")
    assert parse_label("//services").label == Label("", "services", "services")
    assert parse_label(":libc", "libs").label == Label("", "libs", "libc")
    assert parse_label("@std//host:cc").label == Label("std", "host", "cc")
    vl = parse_label("//db:postgresql@9.1.24")
    assert vl.version == "9.1.24" and str(vl.label) == "//db:postgresql"


@pytest.mark.parametrize("text,hint", [("/services:geotags", "did you mean '//services:geotags'?"),
                                       ("geotags", "did you mean ':geotags'"),
                                       ("//services/../libs:libc", "did you mean '//libs:libc'?"),
                                       ("//./libs", "did you mean '//libs'?"),
                                       ("//libs/..:x", "did you mean '//:x'?")])
def test_label_hints(text, hint):
    with pytest.raises(LabelError) as info:
        parse_label(text)
    assert hint in info.value.help


def test_patterns():
    all_ = parse_pattern("//...")
    assert all_.matches(Label("", "a/b", "c")) and not all_.matches(Label("std", "host", "cc"))
    sub = parse_pattern("//services/...")
    assert sub.matches(Label("", "services", "x")) and sub.matches(Label("", "services/api", "x"))
    assert not sub.matches(Label("", "servicesx", "x"))
    assert parse_pattern("//db:all").matches(Label("", "db", "anything"))
    neg = parse_pattern("-//experimental/...")
    assert neg.negative and neg.recursive
    with pytest.raises(LabelError) as info:
        parse_pattern("//..")
    assert info.value.help == "did you mean '//...'?"


@pytest.mark.parametrize("text,hint", [("//services/../...", "did you mean '//...'?"),
                                       ("//libs/.././libs:all", "did you mean '//libs:all'?"),
                                       ("//../x:y", None), ("-//a/../../b/...", None)])
def test_a_package_path_with_dot_components_is_refused(text, hint):
    """`//services/../libs` would be a package beside `//libs`: another label, another key."""
    with pytest.raises(LabelError) as info:
        parse_pattern(text)
    assert "its package path has a '.' or '..' component" in str(info.value)
    assert info.value.help == hint
    assert parse_label("//.hidden:x").label == Label("", ".hidden", "x")  # (a dot in a name is fine)
