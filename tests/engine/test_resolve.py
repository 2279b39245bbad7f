"""Resolution: one version and flavour assignment per family per root, explained conflicts."""

import pytest
from jbuild.dsl.labels import Label
from jbuild.dsl.loader import Loader
from jbuild.dsl.workspace import Workspace
from jbuild.engine.resolve import ResolutionError, resolve, resolve_roots


def families(make_workspace, build):
    loader = Loader(Workspace(make_workspace({"BUILD": build})))
    return loader.closure(loader.expand(["//..."])).targets


def lb(name):
    return Label("", "", name)


def picked(closure):
    return {str(n.label): (n.version, dict(n.flavours)) for n in closure.nodes.values()}


def test_highest_admitted_version(make_workspace):
    fams = families(make_workspace, """
        package pg { version = "9.1.24" }
        package pg { version = "9.6" }
        package pg { version = "10.5" }
        package app { version = "1" requires = [:pg >= 9.1 < 10] }
    """)
    assert picked(resolve(lb("app"), fams))["//:pg"][0] == "9.6"


def test_backtracks_across_families(make_workspace):
    # The newest lib needs pg >= 10, which app excludes: the resolver must fall back to lib 1.
    fams = families(make_workspace, """
        package pg { version = "9.6" }
        package pg { version = "10.5" }
        package lib { version = "1" requires = [:pg >= 9] }
        package lib { version = "2" requires = [:pg >= 10] }
        package app { version = "1" requires = [:lib, :pg < 10] }
    """)
    got = picked(resolve(lb("app"), fams))
    assert got["//:lib"][0] == "1" and got["//:pg"][0] == "9.6"


def test_each_root_resolves_on_its_own(make_workspace):
    fams = families(make_workspace, """
        package pg { version = "9.6" }
        package pg { version = "10.5" }
        package old { version = "1" requires = [:pg < 10] }
        package new { version = "1" requires = [:pg >= 10] }
    """)
    old, new = resolve_roots([lb("old"), lb("new")], fams)
    assert picked(old)["//:pg"][0] == "9.6" and picked(new)["//:pg"][0] == "10.5"


def test_joint_resolution_shares_nodes_when_nothing_is_chosen(make_workspace):
    fams = families(make_workspace, """
        package libc { version = "2.24" flavours { debug = [on, off] default off } }
        package a { version = "1" requires = [:libc] }
        package b { version = "1" requires = [:libc] }
    """)
    a, b = resolve_roots([lb("a"), lb("b")], fams)
    assert a.nodes is b.nodes and picked(a)["//:libc"] == ("2.24", {"debug": "off"})


PG_CONFLICT = """
        package pg { version = "9.6" }
        package pg { version = "10.5" }
        package geotags { version = "5.1" requires = [:pg >= 9.1 < 10] }
        package reports { version = "2.0" requires = [:pg >= 10] }
        package site { version = "1" requires = [:geotags, :reports] }
"""


def test_version_conflict_is_explained(make_workspace):
    fams = families(make_workspace, PG_CONFLICT)
    with pytest.raises(ResolutionError) as info:
        resolve(lb("site"), fams)
    lines = str(info.value).splitlines()  # who requires what, a line each, with where it is written
    assert lines[0] == ("because //:geotags 5.1 needs //:pg >=9.1,<10 and //:reports 2.0 needs //:pg >=10, no version of "
                        "//:pg satisfies both")  # (PubGrub's sentence: CONVENTIONS.md)
    assert lines[1:3] == ["  //:geotags 5.1 needs //:pg >=9.1,<10  (required through //:site)", "   --> BUILD:4:47"], lines
    assert lines[3:5] == ["  //:reports 2.0 needs //:pg >=10  (required through //:site)", "   --> BUILD:5:47"], lines
    assert lines[5] == "  declared: //:pg 9.6, 10.5"  # (in version order)
    assert lines[6].startswith("help: edit one of these constraints so that they overlap") and len(lines) == 7


def test_a_conflict_names_the_chain_from_the_root(make_workspace):
    fams = families(make_workspace, PG_CONFLICT + 'package top { version = "1" requires = [:site] }\n')
    with pytest.raises(ResolutionError) as info:
        resolve(lb("top"), fams)
    assert "  //:reports 2.0 needs //:pg >=10  (required through //:top -> //:site)" in str(info.value).splitlines()


def test_missing_version_is_explained_with_what_exists(make_workspace):
    fams = families(make_workspace, """
        package libc { version = "2.24" }
        package app { version = "1" requires = [:libc >= 3] }
    """)
    with pytest.raises(ResolutionError) as info:
        resolve(lb("app"), fams)
    assert "//:app 1 needs //:libc >=3" in str(info.value) and "declared: //:libc 2.24" in str(info.value)
    assert "required through" not in str(info.value)  # (the root's own requirement)


def test_flavours_unify_and_defaults_fill_the_rest(make_workspace):
    fams = families(make_workspace, """
        package mysql { version = "8" flavours { ssl = [on, off] default on  storage = [ssd, hdd] default ssd } }
        package a { version = "1" requires = [:mysql[ssl=off]] }
        package b { version = "1" requires = [:mysql] }
        package app { version = "1" requires = [:a, :b] }
    """)
    assert picked(resolve(lb("app"), fams))["//:mysql"][1] == {"ssl": "off", "storage": "ssd"}


def test_flavour_conflict_is_explained(make_workspace):
    fams = families(make_workspace, """
        package mysql { version = "8" flavours { ssl = [on, off] default on } }
        package a { version = "1" requires = [:mysql[ssl=off]] }
        package b { version = "1" requires = [:mysql[ssl=on]] }
        package app { version = "1" requires = [:a, :b] }
    """)
    with pytest.raises(ResolutionError) as info:
        resolve(lb("app"), fams)
    assert "needs //:mysql[ssl=" in str(info.value) and "no flavour of //:mysql satisfies both" in str(info.value)


def test_conditional_requirement_follows_the_chosen_flavour(make_workspace):
    fams = families(make_workspace, """
        package openssl { version = "1.1" }
        package pg { version = "9" flavours { ssl = [on, off] default off } requires = [:openssl when ssl == on] }
        package plain { version = "1" requires = [:pg] }
        package secure { version = "1" requires = [:pg[ssl=on]] }
    """)
    assert "//:openssl" not in picked(resolve(lb("plain"), fams))
    assert "//:openssl" in picked(resolve(lb("secure"), fams))
