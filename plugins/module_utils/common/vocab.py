# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names gitops.core writes on objects and reads back, and the two texts every output
shares: the placeholder of a hidden value and the "(and N more)" of a cut list.  Every other file
takes them from here.  Pure data; imports nothing, so git_desired_state (which must not load the
Kubernetes client) may use it too."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# ------------------------------------------------------------------ on objects
FIELD_MANAGER = "gitops-core"                 # the server-side-apply field manager (option field_manager)
SET_LABEL = "gitops.core/set"                 # the set an object belongs to
INVENTORY_LABEL = "gitops.core/inventory"     # on a set's inventory ConfigMap: the set's name
DECLARATION_LABEL = "gitops.core/declaration"  # on a declaration's inventory ConfigMap: the declaration's name
REVISION_ANNOTATION = "gitops.core/revision"  # the commit an object was last applied from
PRUNE_ANNOTATION = "gitops.core/prune"        # "disabled": never deleted when it leaves Git
RECONCILE_ANNOTATION = "gitops.core/reconcile"  # "disabled": left alone, in Git or live
ADOPT_ANNOTATION = "gitops.core/adopt"        # "true" in Git: take this object over from another set
WAVE_ANNOTATION = "gitops.core/wave"          # apply order, lower first
RUN_ONCE_ANNOTATION = "gitops.core/run-once"  # "true": created once per content; "false": a Job with a TTL is not
RECREATE_ANNOTATION = "gitops.core/recreate"  # "enabled": delete and create again when an update hits an immutable field
RELEASE_ANNOTATION = "gitops.core/release"    # on a chart's hooks: the release (namespace/name) they belong to
RELEASE_DIGEST_ANNOTATION = "gitops.core/release-digest"  # on a chart's hooks: the digest of the rendered release
DECRYPTED_FIELDS_ANNOTATION = "gitops.core/decrypted-fields"  # the fields that hold decrypted values (decrypted.py)
SYNC_STATUS_ANNOTATION = "gitops.core/sync-status"    # on a set's inventory: its last sync (engine/status.py)
DRIFT_STATUS_ANNOTATION = "gitops.core/drift-status"  # on a set's inventory: its last drift check
DISABLED, ENABLED = "disabled", "enabled"
# Helm's names, read on charts' objects
HELM_HOOK = "helm.sh/hook"
HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
HELM_HOOK_DELETE_POLICY = "helm.sh/hook-delete-policy"
HELM_RESOURCE_POLICY = "helm.sh/resource-policy"
MANAGED_BY = {"app.kubernetes.io/managed-by": "gitops.core"}  # on the inventory and the Lease


def set_object_name(set_name):
    """The name of a set's inventory ConfigMap and of its Lease (both in the inventory namespace)."""
    return "gitops-set-%s" % set_name


# The names a set and a sets declaration may have (patterns, compiled where used): a set's name is part
# of its ConfigMap, Lease and label values (63 characters at most with the prefix), a declaration's of
# ConfigMap gitops-sets-<name> and its label.
SET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$"
DECLARATION_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"


def declaration_object_name(name):
    """The name of a sets declaration's inventory ConfigMap (in the inventory namespace)."""
    return "gitops-sets-%s" % name


# ------------------------------------------------------------------ in outputs
# A Secret or decrypted value this long or longer is hidden wherever it appears: inside a message, or inside
# another field of the object (which is then hidden whole).  Shorter ones are hidden only as whole values:
# searching for them would blank out ordinary words.  The one threshold every masking path uses.
MASK_MIN_LENGTH = 3
HIDDEN = "(hidden)"                    # stands for a Secret (or secret-derived) value anywhere
HIDDEN_CHANGE = "changed (values hidden)"  # the note of a diff of a Secret value


def more(total, shown):
    """"(and N more)" when `shown` of `total` items were listed, else ""."""
    return "(and %d more)" % (total - shown) if total > shown else ""


def listing(lines, limit, sep="\n"):
    """The first `limit` of `lines` joined by `sep`, then "(and N more)" when some were cut."""
    lines = list(lines)
    shown = lines[:limit]
    tail = more(len(lines), len(shown))
    return sep.join(shown + ([tail] if tail else []))


# The deploy tools whose managed-field entries a takeover drops (never a controller's).
DEPLOY_TOOLS = ("kubectl", "kubectl-client-side-apply", "kubectl-create", "kubectl-edit", "kubectl-replace",
                "kubectl-patch", "kubectl-set", "kubectl-label", "kubectl-annotate", "before-first-apply", "helm",
                "Helm")


# ------------------------------------------------------------------ Helm hooks
# The helm.sh/hook phases gitops.core runs: before the release's other objects, and after them.  Helm's
# others (pre/post-delete, pre/post-rollback, test) have no phase here.
HELM_PRE_HOOKS = ("pre-install", "pre-upgrade")
HELM_POST_HOOKS = ("post-install", "post-upgrade")


def helm_hook_phases(value):
    """The phases a `helm.sh/hook` annotation names ("pre-install, pre-upgrade"), in order; empty
    when it names none.  The one reading of it: git_desired_state and k8s_reconcile must agree."""
    return tuple(name.strip() for name in str(value or "").split(",") if name.strip())
