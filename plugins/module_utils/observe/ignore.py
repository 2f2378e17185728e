# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""drift_check ignore rules.  A rule selects objects (group, kind, namespace, name: globs) and
ignores differences at `paths` (dotted paths with `*` and list selectors such as
`spec.template.spec.containers[name=app].image`, or JSON pointers such as `/spec/replicas`) and/or
differences in fields owned by `managers` (e.g. an HPA owning spec.replicas).  A rule with neither
ignores every field difference of the objects it selects."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

from ansible_collections.gitops.core.plugins.module_utils.observe import managedfields
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.observe.managedfields import Key, Value

ANY = object()


def parse_path(text, where="ignore"):
    """A path pattern as a list of steps: str key, ANY, int index, or dict selector."""
    if not isinstance(text, str) or not text:
        raise GitOpsError("%s: a path must be a non-empty string" % where)
    if text.startswith("/"):
        steps = []
        for part in text[1:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            steps.append(ANY if part == "*" else int(part) if part.isdigit() else part)
        return steps
    steps, i, key = [], 0, ""
    while i < len(text):
        c = text[i]
        if c == ".":
            if key:
                steps.append(ANY if key == "*" else key)
            key = ""
        elif c == "[":
            if key:
                steps.append(ANY if key == "*" else key)
            key = ""
            end = text.find("]", i)
            if end < 0:
                raise GitOpsError("%s: unclosed '[' in path %r" % (where, text))
            inner = text[i + 1:end]
            if inner == "*":
                steps.append(ANY)
            elif inner.isdigit():
                steps.append(int(inner))
            elif "=" in inner:
                selector = {}
                for pair in inner.split(","):
                    k, _eq, v = pair.partition("=")
                    selector[k.strip()] = v.strip()
                steps.append(selector)
            else:
                steps.append(inner.strip("\"'"))  # a key with dots, e.g. annotations[example.com/x]
            i = end
        else:
            key += c
        i += 1
    if key:
        steps.append(ANY if key == "*" else key)
    return steps


def _step_matches(pattern, step):
    if pattern is ANY:
        return True
    if isinstance(pattern, dict):
        return isinstance(step, Key) and all(str(dict(step.fields).get(k)) == v for k, v in pattern.items())
    if isinstance(pattern, int):
        return step == pattern
    if isinstance(step, Value):
        return str(step.value) == pattern
    return step == pattern


def path_matches(pattern, path):
    """A pattern matches a path at or below it (ignoring `metadata.labels` ignores every label)."""
    return len(pattern) <= len(path) and all(_step_matches(p, s) for p, s in zip(pattern, path))


class Rule(object):
    def __init__(self, spec, index):
        where = "ignore[%d]" % index
        if not isinstance(spec, dict):
            raise GitOpsError("%s must be a mapping" % where)
        unknown = set(spec) - {"group", "kind", "namespace", "name", "paths", "managers"}
        if unknown:
            raise GitOpsError("%s: unknown keys %s" % (where, ", ".join(sorted(unknown))))
        self.select = {k: spec.get(k) for k in ("group", "kind", "namespace", "name") if spec.get(k) is not None}
        self.paths = [parse_path(p, where) for p in spec.get("paths") or []]
        self.managers = list(spec.get("managers") or [])

    def selects(self, ref):
        return all(fnmatch.fnmatchcase(getattr(ref, k) or "", pattern) for k, pattern in self.select.items())

    def ignores(self, ref, live, path):
        if not self.selects(ref):
            return False
        if not self.paths and not self.managers:
            return True
        if any(path_matches(p, path) for p in self.paths):
            return True
        if self.managers and live is not None:
            owners = {m["manager"] for m in managedfields.managers_of(live, path)}
            return bool(owners & set(self.managers))
        return False


class Rules(object):
    def __init__(self, specs):
        self.rules = [Rule(spec, i) for i, spec in enumerate(specs or [])]

    def ignores(self, ref, live, path):
        return any(rule.ignores(ref, live, path) for rule in self.rules)
