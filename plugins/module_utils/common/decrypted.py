# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fields that hold decrypted values, named on the object so every module hides them.

git_desired_state decrypts (SOPS, Ansible Vault) and knows which values were secret; k8s_reconcile,
drift_check and the event source see only objects.  So the object carries the names of its fields
that hold a decrypted value (never a value) in the annotation `gitops.core/decrypted-fields`: a JSON
list of paths written in the one grammar (common/paths.py) with list indexes
(`spec.template.spec.containers[0].env[1].value`, `data[config.yaml]`).  A Secret's
data/stringData are hidden anyway and are not listed.  Every output hides these fields as it hides
Secret data: diffs, before/after, reports, API error text."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.gitops.core.plugins.module_utils.common import paths
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import DECRYPTED_FIELDS_ANNOTATION, HIDDEN, MASK_MIN_LENGTH

_IDENTITY = ("apiVersion", "kind", "metadata.name", "metadata.namespace")


def _holds(text, forms):
    return text in forms or any(len(f) >= MASK_MIN_LENGTH and f in text for f in forms)


def mark(obj, forms, where, exact=()):
    """Annotate `obj` (in place) with its fields that hold a decrypted value: `exact` (index paths
    known to be decrypted, a SOPS document's encrypted leaves) and every string field equal to, or
    holding, one of `forms` (a value decrypted elsewhere: a Helm values file, a kustomize generator
    file).  An encrypted identity field (`exact`) is refused: names are shown everywhere.  A name that
    merely equals a decrypted value (a user name that is also the object's name) is left as it is."""
    secret = obj.get("kind") == "Secret"
    found = set(paths.dotted(p) for p in exact)
    for field in found & set(_IDENTITY):
        raise GitOpsError("%s: %s was encrypted; names are shown in every result, so a secret may not be one "
                          "(encrypt only the values: --encrypted-regex '^(data|stringData)$')" % (where, field))
    for path, text in paths.leaves(obj) if forms else ():
        field = paths.dotted(path)
        if field in _IDENTITY or (path[:2] == ("metadata", "annotations") and len(path) > 2
                                  and path[2] == DECRYPTED_FIELDS_ANNOTATION):
            continue
        if _holds(text, forms):
            found.add(field)
    for field in list(found):
        if secret and field.split(".")[0] in ("data", "stringData"):
            found.discard(field)  # hidden as every Secret value is
    if not found:
        return obj
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = meta["annotations"] = {}
    annotations[DECRYPTED_FIELDS_ANNOTATION] = json.dumps(sorted(found))
    return obj


def fields(obj):
    """The field paths an object names as holding decrypted values (empty when none)."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") if isinstance(obj, dict) else None
    value = annotations.get(DECRYPTED_FIELDS_ANNOTATION) if isinstance(annotations, dict) else None
    if not value:
        return frozenset()
    try:
        listed = json.loads(value)
    except ValueError:
        return frozenset()
    return frozenset(p for p in listed if isinstance(p, str)) if isinstance(listed, list) else frozenset()


def _legacy(path):
    """A name as written before the one path grammar (keys joined by '.', `data.config.yaml`): objects
    applied then still carry such names, and they must keep hiding what they named."""
    out = ""
    for step in path:
        out += "[%d]" % step if isinstance(step, int) else ("." if out else "") + str(step)
    return out


def named(hidden, path):
    """Whether the index path `path` is one of the names `hidden` (in either spelling).  Names are
    matched, never parsed: a name that would not read back still hides what it names."""
    return paths.dotted(path) in hidden or _legacy(path) in hidden


def covers(hidden, path):
    """Whether the index path `path` is, holds or lies inside a field `hidden` names (either spelling)."""
    return bool(hidden) and (paths.covers(hidden, paths.dotted(path)) or paths.covers(hidden, _legacy(path)))


def values(obj):
    """The values at (or inside) an object's decrypted fields, for masking messages about it."""
    hidden = fields(obj)
    if not hidden:
        return set()
    return {text for path, text in paths.leaves(obj)
            if any(named(hidden, path[:n]) for n in range(1, len(path) + 1))}


def hide(obj):
    """A copy of `obj` with each decrypted field replaced by HIDDEN (the object itself when none)."""
    hidden = fields(obj)
    if not hidden:
        return obj
    obj = copy.deepcopy(obj)

    def walk(node, path):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in list(items):
            here = path + (key,)
            if named(hidden, here):
                node[key] = HIDDEN
            else:
                walk(value, here)

    walk(obj, ())
    return obj
