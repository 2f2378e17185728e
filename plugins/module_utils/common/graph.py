# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dependency order of named things (the sets of a declaration): waves and cycles.  Pure data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError


def find_cycle(names, deps):
    """A dependency cycle as a list [a, b, ..., a], or None.  `deps`: name -> names it depends on;
    names are visited in the order given, so the cycle found is the same on every run."""
    state = {}  # name -> 1 while on the path, 2 when done
    path = []

    def visit(name):
        state[name] = 1
        path.append(name)
        for dep in deps.get(name) or ():
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep in deps and not state.get(dep):
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in names:
        if not state.get(name):
            found = visit(name)
            if found:
                return found
    return None


def waves(names, deps):
    """[[names...], ...]: each wave holds the names whose dependencies are all in earlier waves,
    in the order of `names`.  Raises GitOpsError naming a cycle (a -> b -> a)."""
    cycle = find_cycle(names, deps)
    if cycle:
        raise GitOpsError("dependency cycle: %s" % " -> ".join(cycle))
    placed, out = set(), []
    left = list(names)
    while left:
        wave = [n for n in left if all(d in placed or d not in deps for d in deps.get(n) or ())]
        out.append(wave)
        placed.update(wave)
        left = [n for n in left if n not in placed]
    return out
