# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Object identity: group, version, kind, namespace, name; printed as `group/kind namespace/name`.
Also the two metadata readers every verb needs: an annotation and the set label of an object."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.common.vocab import SET_LABEL


class ObjectRef(namedtuple("ObjectRef", "group version kind namespace name")):
    """Identity of one Kubernetes object.  Two refs naming the same object compare equal on
    `key` (the version is not part of an object's identity)."""

    __slots__ = ()

    @classmethod
    def from_object(cls, obj, default_namespace=""):
        api_version = obj.get("apiVersion") or ""
        group, _sep, version = api_version.rpartition("/")
        meta = obj.get("metadata") or {}
        return cls(group, version, obj.get("kind") or "", meta.get("namespace") or default_namespace,
                   meta.get("name") or "")

    @property
    def key(self):
        return (self.group, self.kind, self.namespace, self.name)

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    def __str__(self):
        kind = "%s/%s" % (self.group, self.kind) if self.group else self.kind
        return "%s %s/%s" % (kind, self.namespace, self.name) if self.namespace else "%s %s" % (kind, self.name)


def where(ref, source):
    """`ref (source)` when the source is known: how messages name an object."""
    return "%s (%s)" % (ref, source) if source else str(ref)


def annotation(obj, name):
    """The annotation `name` of an object (dict or None), or None."""
    return (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(name)


def set_label(obj):
    """The set an object's `gitops.core/set` label names, or None."""
    return (((obj or {}).get("metadata") or {}).get("labels") or {}).get(SET_LABEL)
