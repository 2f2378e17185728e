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

MAX_VALUE = 120


def short(value):
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 3] + "..."


def who(changed_by):
    """kubectl (Update via scale), kubectl-edit (Update at 2026-11-26T10:02:00Z), ..."""
    parts = []
    for c in changed_by or []:
        detail = c.get("operation") or ""
        if c.get("subresource"):
            detail += " via %s" % c["subresource"]
        if c.get("time"):
            detail += " at %s" % c["time"]
        if c.get("note"):
            detail += "; %s" % c["note"]
        parts.append("%s (%s)" % (c.get("manager"), detail))
    return ", ".join(parts) or "unknown"


def field_line(d):
    if d.get("note"):
        return "%s: %s" % (d["path"], d["note"])
    return "%s: %s -> %s" % (d["path"], short(d.get("desired")), short(d.get("live")))


def to_json(result):
    return json.dumps(result, indent=2, sort_keys=True) + "\n"


def to_junit(result, suite_name):
    summary = result["summary"]
    failures = summary["modified"] + summary["missing"] + summary["orphaned"]
    suites = ET.Element("testsuites", name="gitops.core drift_check", tests=str(summary["total"]),
                        failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=suite_name, tests=str(summary["total"]),
                          failures=str(failures), errors="0", skipped="0")
    for obj in result["objects"]:
        ref = obj["ref"]
        kind, _sp, name = ref.partition(" ")
        case = ET.SubElement(suite, "testcase", classname=kind, name=name or ref)
        status = obj["status"]
        if status == "in_sync":
            continue
        if status == "modified":
            lines = ["%s (changed by %s)" % (field_line(d), who(d.get("changed_by"))) for d in obj["diffs"]]
            failure = ET.SubElement(case, "failure", type="modified",
                                    message="%s: %d field(s) drifted" % (ref, len(obj["diffs"])))
            failure.text = "\n".join(lines)
        elif status == "missing":
            ET.SubElement(case, "failure", type="missing", message="%s is declared in Git but missing live" % ref)
        elif status == "orphaned":
            ET.SubElement(case, "failure", type="orphaned",
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
              "| %d | %d | %d | %d | %d |" % (s["in_sync"], s["modified"], s["missing"], s["orphaned"], s["total"]), ""]
    for obj in result["objects"]:
        if obj["status"] == "in_sync":
            continue
        lines.append("### %s `%s`" % (obj["status"], obj["ref"]))
        if obj["status"] == "modified":
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


def write_all(result, report_dir, set_name):
    """Write drift.json, drift.junit.xml and drift.md; return their paths."""
    if not os.path.isdir(report_dir):
        os.makedirs(report_dir, 0o755)
    out = {}
    for name, text in (("drift.json", to_json(result)), ("drift.junit.xml", to_junit(result, set_name)),
                       ("drift.md", to_markdown(result, set_name))):
        path = os.path.join(report_dir, name)
        _write(path, text)
        out[name.split(".", 1)[1].replace(".xml", "")] = path
    return out
