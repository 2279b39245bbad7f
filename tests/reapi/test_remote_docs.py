"""docs/remote.md is true: its BuildGrid TLS and authorization settings are the ones the TLS
test serves, and the host-root properties it names are the ones the client sends and the
tested server accepts."""

import re
from pathlib import Path

import bgd_server
from jbuild.engine.reapi.hostmatch import PROPERTY_KEYS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "remote.md").read_text()


def squash(text: str) -> str:
    return " ".join(text.split())


def test_the_documented_tls_and_jwt_settings_are_the_tested_ones():
    (yaml,) = re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)
    tls = bgd_server.TLS.format(key="/etc/buildgrid/server.key", cert="/etc/buildgrid/server.pem")
    jwt = bgd_server.JWT.format(secret="/etc/buildgrid/jwt-secret")
    assert squash(tls) in squash(yaml) and squash(jwt) in squash(yaml)


def test_the_documented_host_properties_are_sent_and_accepted():
    documented = set(re.findall(r"^\| `(jbuild-host-[a-z]+)` \|", DOC, re.MULTILINE))
    assert documented == set(PROPERTY_KEYS)
    assert f"wildcard-property-keys: [{', '.join(PROPERTY_KEYS)}]" in bgd_server.CONFIG
