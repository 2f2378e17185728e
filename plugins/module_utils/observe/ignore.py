# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""drift_check ignore rules.  A rule selects objects (group, kind, namespace, name: globs) and
ignores differences at `paths` (the one path grammar of common/paths.py, with `*` and list selectors
such as `spec.template.spec.containers[name=app].image`, or JSON pointers such as `/spec/replicas`) and/or
differences in fields owned by `managers` (e.g. an HPA owning spec.replicas).  A rule with neither
ignores every field difference of the objects it selects."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

from ansible_collections.gitops.core.plugins.module_utils.common import paths
from ansible_collections.gitops.core.plugins.module_utils.observe import managedfields
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError


class Rule(object):
    def __init__(self, spec, index):
        where = "ignore[%d]" % index
        if not isinstance(spec, dict):
            raise GitOpsError("%s must be a mapping" % where)
        unknown = set(spec) - {"group", "kind", "namespace", "name", "paths", "managers"}
        if unknown:
            raise GitOpsError("%s: unknown keys %s" % (where, ", ".join(sorted(unknown))))
        self.select = {k: spec.get(k) for k in ("group", "kind", "namespace", "name") if spec.get(k) is not None}
        self.paths = [paths.parse(p, where) for p in spec.get("paths") or []]
        self.managers = list(spec.get("managers") or [])

    def selects(self, ref):
        return all(fnmatch.fnmatchcase(getattr(ref, k) or "", pattern) for k, pattern in self.select.items())

    def ignores(self, ref, live, path):
        if not self.selects(ref):
            return False
        if not self.paths and not self.managers:
            return True
        if any(paths.matches(p, path) for p in self.paths):
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
