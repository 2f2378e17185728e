# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply order: annotation gitops.core/wave (lower first), then kinds that others depend on
(CRDs, Namespaces, cluster RBAC and config, ServiceAccounts, ConfigMaps, Secrets, Services,
workloads), then webhook configurations and APIServices (served by those workloads), then custom
resources.  Prune runs in the reverse order."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import WAVE_ANNOTATION

_KIND_ORDER = [
    "CustomResourceDefinition", "Namespace", "ResourceQuota", "LimitRange", "PriorityClass",
    "StorageClass", "PodSecurityPolicy", "ClusterRole", "ClusterRoleBinding",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "IngressClass", "RuntimeClass", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret",
    "PersistentVolume", "PersistentVolumeClaim", "Service", "Endpoints", "EndpointSlice",
    "NetworkPolicy", "PodDisruptionBudget", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet",
    "Pod", "Job", "CronJob", "HorizontalPodAutoscaler", "Ingress",
    # Served by the Services and workloads above: applied after them, as Flux and Argo CD do, so
    # that a webhook or aggregated API is not registered before anything can answer it.
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService",
]
_RANK = {kind: index for index, kind in enumerate(_KIND_ORDER)}
BUILTIN_GROUPS = ("", "apps", "batch", "rbac.authorization.k8s.io", "networking.k8s.io", "policy",
                  "storage.k8s.io", "scheduling.k8s.io", "autoscaling", "apiextensions.k8s.io",
                  "admissionregistration.k8s.io", "node.k8s.io", "discovery.k8s.io", "apiregistration.k8s.io",
                  "coordination.k8s.io", "certificates.k8s.io")


def wave(obj, where="", strict=True):
    """The object's wave (0 without the annotation); a value that is not an integer is refused,
    or counts as 0 when not `strict` (a live object that left Git is still pruned in order)."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(WAVE_ANNOTATION)
    if value is None:
        return 0
    try:
        return int(str(value).strip())
    except ValueError:
        if not strict:
            return 0
        raise GitOpsError("%s: annotation %s must be an integer, got %r" % (where, WAVE_ANNOTATION, value))


def kind_rank(ref):
    """Built-in kinds by dependency; custom resources after every built-in kind."""
    if ref.group in BUILTIN_GROUPS and ref.kind in _RANK:
        return _RANK[ref.kind]
    return len(_KIND_ORDER) + (0 if ref.group in BUILTIN_GROUPS else 1)


def apply_key(ref, obj, strict=True, where=None):
    """(wave, kind rank, namespace, name): the apply order; its first two items are the phase.
    A bad wave annotation is refused naming `where` (else the ref), unless not `strict`."""
    return (wave(obj, where or str(ref), strict), kind_rank(ref), ref.namespace, ref.name)


def prune_key(key):
    """The prune order from an apply key: reversed phases (custom resources before CRDs,
    namespaced objects before Namespaces), by namespace and name within a phase."""
    w, rank, namespace, name = key
    return (-w, -rank, namespace, name)
