# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a chart's templates do when rendered, rather than what their text mentions.

`lookup` reads the live cluster, so an object it shapes does not follow from the commit.  A chart is
refused only when rendering reaches a `lookup` with the values given: a private copy of the chart is
rendered in which every `lookup` call of a template is a `fail` call (the same line), so a call the
values leave in a disabled branch is never executed and the render is the chart's own, while a call
reached fails naming its template and line.  NOTES.txt never makes an object and is left as it is.

Random and time-based functions (`randAlphaNum`, `genCA`, `uuidv4`, `now`...) make every render
differ: a chart whose templates use them is rendered twice, and the objects and fields that differ are
named (never their values)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tarfile

from ansible_collections.gitops.core.plugins.module_utils.common import paths
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

# A template action ({{ ... }}), its string literals and comments (never a call), and a call of the
# lookup function: not a field (.lookup), variable ($lookup) or part of a longer name.
ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|/\*.*?\*/', re.S)
LOOKUP = re.compile(r"(?<![\w.$])lookup\b")
# Sprig's and Helm's functions whose result differs from one render to the next.
RANDOM = re.compile(r"(?<![\w.$])(randAlphaNum|randAlpha|randNumeric|randAscii|randBytes|randInt|uuidv4|genCA|"
                    r"genCAWithKey|genPrivateKey|genSelfSignedCert|genSelfSignedCertWithKey|genSignedCert|"
                    r"genSignedCertWithKey|now|htpasswd|bcrypt|derivePassword|shuffle)\b")
NOTES = "NOTES.txt"
# What helm says when a template executes one of our `fail` calls with lookup's four arguments.
# (helm 3: "template: web/templates/a.yaml:6:15: executing ... at <fail>: wrong number of args for fail";
# helm 4: "Error: web/templates/a.yaml:6:15\n  executing ... at <fail>:\n    wrong number of args for fail")
REACHED = re.compile(r"([^\s:\"]+):(\d+):\d+:?\s+executing \"[^\"]*\" at <fail>:\s+wrong number of args for fail")
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".tpl", ".txt", ".json")


def _calls(text, pattern):
    """(start, end) of each call of `pattern` in the actions of a template, outside strings and comments."""
    out = []
    for action in ACTION.finditer(text):
        body, base = action.group(1), action.start(1)
        hidden = [m.span() for m in STRINGS.finditer(body)]
        for call in pattern.finditer(body):
            if not any(a <= call.start() < b for a, b in hidden):
                out.append((base + call.start(), base + call.end()))
    return out


def calls_lookup(text):
    return bool(_calls(text, LOOKUP))


def uses_random(text):
    return bool(_calls(text, RANDOM))


def neutralised(text):
    """`text` with every lookup call a `fail` call, on the same line."""
    for start, end in reversed(_calls(text, LOOKUP)):
        text = text[:start] + "fail" + text[end:]
    return text


def is_template(rel):
    """Whether a file of a chart (relative to the chart) is one of its templates that may make objects."""
    parts = rel.replace(os.sep, "/").split("/")
    return "templates" in parts[:-1] and rel.endswith(TEMPLATE_SUFFIXES) and parts[-1] != NOTES


def probe_copy(chart_path, dest):
    """A copy of the chart at `chart_path` in `dest` (its real files: the caller checked they stay in
    the checkout), every lookup call of a template a `fail` call; a vendored archive whose templates
    call lookup is unpacked into charts/ first.  Returns the copy's path."""
    copy = os.path.join(dest, os.path.basename(os.path.normpath(chart_path)) or "chart")
    shutil.copytree(chart_path, copy, symlinks=False)
    for dirpath, _dirs, files in os.walk(copy):
        for name in files:
            if name.endswith(".tgz") and os.path.basename(dirpath) == "charts":
                _unpack_if_calling(os.path.join(dirpath, name), dirpath)
    for dirpath, _dirs, files in os.walk(copy):
        for name in files:
            full = os.path.join(dirpath, name)
            if is_template(os.path.relpath(full, copy)):
                with open(full, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
                if calls_lookup(text):
                    with open(full, "w", encoding="utf-8") as fh:
                        fh.write(neutralised(text))
    return copy


def _unpack_if_calling(archive, charts_dir):
    """Unpack a vendored chart archive whose templates call lookup (helm reads an unpacked folder in
    charts/ the same way), so that its calls can be neutralised too.  Members were checked before."""
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        calling = any(is_template(m.name.split("/", 1)[-1]) and calls_lookup(
            tar.extractfile(m).read().decode("utf-8", "replace")) for m in members if "/" in m.name)
        if not calling:
            return
        for member in members:
            target = os.path.realpath(os.path.join(charts_dir, member.name))
            if not target.startswith(os.path.realpath(charts_dir) + os.sep):
                raise GitOpsError("%s: archive member %s leaves the chart" % (archive, member.name))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(tar.extractfile(member).read())
    os.remove(archive)


def reached(message):
    """(template, line) of the lookup call a render reached, from helm's error, or None."""
    found = REACHED.search(message or "")
    return (found.group(1), int(found.group(2))) if found else None


def differences(first, second):
    """[(ref, [field paths])] of the objects two renders of one chart made differently (an object only
    one render made counts whole), in the first render's order.  `first`, `second`: [(ref, object)]."""
    other = dict((str(ref), obj) for ref, obj in second)
    out = []
    for ref, obj in first:
        theirs = other.pop(str(ref), None)
        if theirs is None:
            out.append((str(ref), ["(the whole object)"]))
            continue
        fields = sorted(set(paths.dotted(p) for p, v in paths.leaves(obj, types=None)
                            if paths.lookup(theirs, p, default=_MISSING) != v)
                        | set(paths.dotted(p) for p, v in paths.leaves(theirs, types=None)
                              if paths.lookup(obj, p, default=_MISSING) != v))
        if fields:
            out.append((str(ref), fields))
    out.extend((ref, ["(the whole object)"]) for ref in other)
    return out


_MISSING = object()
