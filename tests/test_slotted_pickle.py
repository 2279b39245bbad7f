"""base/slotted_pickle.py: the fast state methods give the same state as dataclasses' own, so
files written before read the same, and a target survives a round trip whole."""

import dataclasses
import pickle

from jbuild.dsl import model
from jbuild.dsl.labels import Label
from jbuild.dsl.span import Span
from jbuild.dsl.versions import Version


def test_state_is_dataclasses_own_and_round_trips():
    span = Span("BUILD", 3, 4, 3, 9, via=Span("x/BUILD", 1, 1))
    assert list(span.__getstate__()) == dataclasses._dataclass_getstate(span)
    pkg = model.Package(label=Label("", "a", "b"), version=Version.parse("1.2"), span=span, build="make")
    back = pickle.loads(pickle.dumps(pkg, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == pkg and repr(back) == repr(pkg) and back.span.via == span.via
    old = Span.__new__(Span)  # a state as dataclasses wrote it (a list) still reads
    old.__setstate__(dataclasses._dataclass_getstate(span))
    assert old == span and old.via == span.via
