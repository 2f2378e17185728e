# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Renderings of a drift result: JSON (the result itself), JUnit XML (one test case per object,
a failure per drifted object, for CI systems and AWX users) and Markdown (a summary for a pull
request comment or a chat message).  Values come already masked from compare.describe."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import xml.etree.ElementTree as ET

from ansible_collections.gitops.core.plugins.module_utils.report.result import (
    IN_SYNC, MISSING, MODIFIED, ORPHANED, field_line, short, who)


def to_json(result):
    return json.dumps(result, indent=2, sort_keys=True) + "\n"


def to_junit(result, refs, suite_name):
    """One test case per object (`refs`: the ObjectRef of each of result["objects"], in order)."""
    summary = result["summary"]
    failures = summary[MODIFIED] + summary[MISSING] + summary[ORPHANED]
    suites = ET.Element("testsuites", name="gitops.core drift_check", tests=str(summary["total"]),
                        failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=suite_name, tests=str(summary["total"]),
                          failures=str(failures), errors="0", skipped="0")
    for obj, ref in zip(result["objects"], refs):
        kind = "%s/%s" % (ref.group, ref.kind) if ref.group else ref.kind
        case = ET.SubElement(suite, "testcase", classname=kind,
                             name="%s/%s" % (ref.namespace, ref.name) if ref.namespace else ref.name)
        ref = obj["ref"]
        status = obj["status"]
        if status == IN_SYNC:
            continue
        if status == MODIFIED:
            lines = ["%s (changed by %s)" % (field_line(d), who(d.get("changed_by"))) for d in obj["diffs"]]
            failure = ET.SubElement(case, "failure", type=MODIFIED,
                                    message="%s: %d field(s) drifted" % (ref, len(obj["diffs"])))
            failure.text = "\n".join(lines)
        elif status == MISSING:
            ET.SubElement(case, "failure", type=MISSING, message="%s is declared in Git but missing live" % ref)
        elif status == ORPHANED:
            ET.SubElement(case, "failure", type=ORPHANED,
                          message="%s is live with the set label but no longer declared in Git" % ref)
    return ET.tostring(suites, encoding="unicode") + "\n"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(result, set_name):
    s = result["summary"]
    title = "Drift in `%s`" % set_name if result["drift"] else "No drift in `%s`" % set_name
    lines = ["## %s" % title, ""]
    if result.get("revision"):
        lines += ["Revision: `%s`" % result["revision"], ""]
    lines += ["| in sync | modified | missing | orphaned | total |", "| --- | --- | --- | --- | --- |",
              "| %d | %d | %d | %d | %d |" % (s[IN_SYNC], s[MODIFIED], s[MISSING], s[ORPHANED], s["total"]), ""]
    for obj in result["objects"]:
        if obj["status"] == IN_SYNC:
            continue
        lines.append("### %s `%s`" % (obj["status"], obj["ref"]))
        if obj["status"] == MODIFIED:
            lines += ["", "| field | Git | live | changed by |", "| --- | --- | --- | --- |"]
            for d in obj["diffs"]:
                desired, live = (d["note"], "") if d.get("note") else (short(d.get("desired")), short(d.get("live")))
                lines.append("| `%s` | %s | %s | %s |" % (_cell(d["path"]), _cell(desired), _cell(live),
                                                          _cell(who(d.get("changed_by")))))
        lines.append("")
    if result.get("healed"):
        h = result["healed"]
        lines += ["Healed: %d re-applied, %d pruned." % (len(h.get("applied", [])), len(h.get("pruned", []))), ""]
    return "\n".join(lines) + "\n"


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_all(result, refs, report_dir, set_name):
    """Write drift.json, drift.junit.xml and drift.md; return their paths.  `refs`: the ObjectRef
    of each of result["objects"], in order."""
    if not os.path.isdir(report_dir):
        os.makedirs(report_dir, 0o755)
    out = {}
    for name, text in (("drift.json", to_json(result)), ("drift.junit.xml", to_junit(result, refs, set_name)),
                       ("drift.md", to_markdown(result, set_name))):
        path = os.path.join(report_dir, name)
        _write(path, text)
        out[name.split(".", 1)[1].replace(".xml", "")] = path
    return out
