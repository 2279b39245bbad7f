"""JUnit XML: each test's `test.xml`, and the combined report of `--junit-xml FILE`.

A test that writes `$XML_OUTPUT_FILE` (a `<testsuites>` or `<testsuite>` document) keeps its
own cases; otherwise jbuild writes one suite with one case for the target, its failure (with
the end of the log) and its output, as Bazel does. The shape is the one CI servers read
(Jenkins, GitLab, GitHub test reporters): testsuites > testsuite > testcase > failure/skipped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

# Characters XML 1.0 cannot hold (a test log may print anything).
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
FAILING = ("failed", "timeout")


def clean(text: str) -> str:
    return _INVALID.sub("\ufffd", text)


def generated(label: str, package: str, status: str, duration: float, attempts: int, log: str,
              message: str = "") -> ET.Element:
    """A suite of one case for a test that wrote no XML of its own."""
    suite = ET.Element("testsuite", name=label, tests="1", failures="1" if status in FAILING else "0",
                       errors="0", skipped="1" if status == "skipped" else "0", time=f"{duration:.3f}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="status", value=status)
    ET.SubElement(props, "property", name="attempts", value=str(attempts))
    case = ET.SubElement(suite, "testcase", name=label, classname=package.replace("/", ".") or "root",
                         time=f"{duration:.3f}")
    if status in FAILING:
        fail = ET.SubElement(case, "failure", message=clean(message or status), type=status)
        fail.text = clean("\n".join(log.splitlines()[-50:]))
    elif status == "skipped":
        ET.SubElement(case, "skipped", message=clean(message))
    out = ET.SubElement(case, "system-out")
    out.text = clean(log)
    return suite


def suites_of(written: str | None) -> list[ET.Element] | None:
    """The suites of a test's own $XML_OUTPUT_FILE, or None if it wrote none that parses."""
    if not written:
        return None
    try:
        root = ET.fromstring(written)
    except ET.ParseError:
        return None
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        return [s for s in root if s.tag == "testsuite"] or None
    return None


def document(suites: list[ET.Element], name: str | None = None) -> str:
    """`<testsuites>` around `suites`, with totals, as text."""
    root = ET.Element("testsuites")
    if name:
        root.set("name", name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    time_total = 0.0
    for s in suites:
        root.append(s)
        for k in totals:
            totals[k] += _int(s.get(k))
        time_total += _float(s.get("time"))
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{time_total:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def report_for(label: str, package: str, status: str, duration: float, attempts: int, log: str,
                  written: str | None, message: str = "") -> str:
    """A test's `test.xml`: its own suites when it wrote valid ones (a failed run adds jbuild's
    case, so a crash after a partial report still shows as a failure), else the generated suite."""
    own = suites_of(written)
    if own is None:
        return document([generated(label, package, status, duration, attempts, log, message)])
    if status in FAILING and not any(_int(s.get("failures")) + _int(s.get("errors")) for s in own):
        own.append(generated(label, package, status, duration, attempts, log, message))
    return document(own)


def combined(documents: list[str]) -> str:
    """One report of every test's `test.xml`, for `--junit-xml FILE`."""
    suites = []
    for text in documents:
        suites.extend(suites_of(text) or [])
    return document(suites, name="jbuild test")


def _int(text) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _float(text) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0
