# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects that are not simply kept in line with Git, as plain data in, plain data out:

- Helm hooks (`helm.sh/hook`): run when their release changes, in Helm's order, before
  (pre-install/pre-upgrade) or after (post-install/post-upgrade) the other objects, and deleted as
  their `helm.sh/hook-delete-policy` says.  A chart rendered by git_desired_state marks its hooks
  with the release and the digest of the whole rendered release; a hook in plain YAML is its own
  release, with the digest of its own content.
- Run-once objects (`gitops.core/run-once: "true"`, or a Job with `ttlSecondsAfterFinished`,
  which Kubernetes deletes once it finished): created once per content.  Once it ran and is gone,
  it is neither missing nor created again until its content changes in Git.
- Takeover: the managed-field entries of deploy tools (kubectl, Helm) whose fields a set takes
  over with the object, so that what Git later removes is removed live.

What ran for which digest is recorded in the set's inventory (`ran`: key -> digest)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.common import sanitize, vocab
from ansible_collections.gitops.core.plugins.module_utils.engine import order
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import annotation

PRE, POST = "pre", "post"
BEFORE_CREATION, SUCCEEDED, FAILED = "before-hook-creation", "hook-succeeded", "hook-failed"
DELETE_POLICIES = (BEFORE_CREATION, SUCCEEDED, FAILED)
WAITED_KINDS = (("batch", "Job"), ("", "Pod"))
# kinds that the run's recreate option never recreates: only their own annotation opts in
RECREATE_ONLY_ANNOTATED = (("", "Namespace"), ("apiextensions.k8s.io", "CustomResourceDefinition"),
                           ("", "PersistentVolumeClaim"))  # a hook of these kinds is waited for until it completed
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# key: what `ran` records it under; digest: what it runs for; phases: its helm.sh/hook names;
# weight: helm.sh/hook-weight; policies: its delete policies.
Hook = namedtuple("Hook", "key digest phases weight policies")
RunOnce = namedtuple("RunOnce", "key digest")


def content_digest(body):
    """sha256 of an object as Git declares it, without the annotations that change on every commit
    or that this module adds (revision, release digest), and with Secret values hidden: the digest is
    recorded in the inventory, and nothing there may be derived from a Secret value."""
    body = sanitize.mask_secret(body)
    meta = dict(body.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k not in (vocab.REVISION_ANNOTATION, vocab.RELEASE_DIGEST_ANNOTATION)}
    meta["annotations"] = annotations
    text = json.dumps(dict(body, metadata=meta), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hook_of(body, ref, where):
    """The Hook of a desired object carrying `helm.sh/hook`, or None.  Refuses a hook weight that is
    not an integer and a delete policy Helm does not know, naming the object."""
    names = vocab.helm_hook_phases(annotation(body, vocab.HELM_HOOK))
    if not names:
        return None
    weight = annotation(body, vocab.HELM_HOOK_WEIGHT)
    try:
        weight = int(str(weight).strip()) if weight is not None else 0
    except ValueError:
        raise GitOpsError("%s: annotation %s must be an integer, got %r" % (where, vocab.HELM_HOOK_WEIGHT, weight))
    policies = [p.strip() for p in str(annotation(body, vocab.HELM_HOOK_DELETE_POLICY) or "").split(",") if p.strip()]
    unknown = [p for p in policies if p not in DELETE_POLICIES]
    if unknown:
        raise GitOpsError("%s: annotation %s: unknown policy %r (Helm knows %s)"
                          % (where, vocab.HELM_HOOK_DELETE_POLICY, unknown[0], ", ".join(DELETE_POLICIES)))
    release = annotation(body, vocab.RELEASE_ANNOTATION)
    digest = annotation(body, vocab.RELEASE_DIGEST_ANNOTATION)
    key = "release %s" % release if release else "hook %s" % (ref,)
    return Hook(key, digest or content_digest(body), names, weight,
                tuple(policies) or (BEFORE_CREATION,))  # Helm's default policy


def run_once_of(body, ref):
    """The RunOnce of a desired object that is created once per content, or None: annotated
    `gitops.core/run-once: "true"`, or a Job with `ttlSecondsAfterFinished` (Kubernetes deletes it
    once it finished) unless annotated "false"."""
    flag = str(annotation(body, vocab.RUN_ONCE_ANNOTATION) or "").strip().lower()
    if flag == "false":
        return None
    is_ttl_job = (ref.group, ref.kind) == ("batch", "Job") and \
        (body.get("spec") or {}).get("ttlSecondsAfterFinished") is not None
    if flag == "true" or is_ttl_job:
        return RunOnce("once %s" % (ref,), content_digest(body))
    return None


def hook_stages(hook, ran):
    """(stages, reason): the stages (PRE, POST) this hook runs in on this sync, and why; no stages
    when its release is unchanged since its hooks last succeeded, or the hook is not for this phase."""
    installed = hook.key in ran
    phase = "upgrade" if installed else "install"
    name = hook.key.split(" ", 1)[1]
    if installed and ran[hook.key] == hook.digest:
        return (), "not run: %s unchanged since its hooks last succeeded" % name
    stages = tuple(s for s in (PRE, POST) if "%s-%s" % (s, phase) in hook.phases)
    if not stages:
        return (), "not run: a %s hook, and this sync is an %s of %s" % (",".join(hook.phases), phase, name)
    why = "first sync of %s" % name if not installed else "%s changed" % name
    return stages, "%s hook: %s" % (", ".join("%s-%s" % (s, phase) for s in stages), why)


def deploy_tool_entries(live, tools=vocab.DEPLOY_TOOLS):
    """The managers of `live`'s managed-field entries that belong to deploy tools, sorted."""
    entries = (live.get("metadata") or {}).get("managedFields") or []
    return sorted({e.get("manager") for e in entries if e.get("manager") in tools})


def _merge_fields(into, more):
    """FieldsV1 trees merged (a field owned in either is owned in the result)."""
    out = dict(into)
    for key, sub in (more or {}).items():
        out[key] = _merge_fields(out.get(key) or {}, sub) if isinstance(sub, dict) else sub
    return out


def takeover_patch(live, manager, tools=vocab.DEPLOY_TOOLS):
    """A JSON patch that hands the fields of the deploy tools' managed-field entries to `manager`
    (our server-side-apply entry), as Flux does, and drops kubectl's last-applied annotation, guarded
    by the object's resourceVersion; None when there is nothing to take over.  The fields are handed
    over rather than left unowned: an object whose managedFields end up empty is given a
    `before-first-apply` entry owning every field by our first apply, and what Git then removes
    would stay."""
    meta = live.get("metadata") or {}
    entries = meta.get("managedFields") or []
    taken = [e for e in entries if e.get("manager") in tools]
    last_applied = LAST_APPLIED in (meta.get("annotations") or {})
    if not taken and not last_applied:
        return None
    patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}]
    if taken:
        ours = next((e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"
                     and not e.get("subresource")), None)
        fields = (ours or {}).get("fieldsV1") or {}
        for e in taken:
            if not e.get("subresource"):  # a tool's write through /scale or /status is not the object's spec
                fields = _merge_fields(fields, e.get("fieldsV1"))
        mine = dict(ours or {"manager": manager, "operation": "Apply", "apiVersion": live.get("apiVersion"),
                             "fieldsType": "FieldsV1"}, fieldsV1=fields)
        kept = [e for e in entries if e.get("manager") not in tools and e is not ours]
        patch.append({"op": "replace", "path": "/metadata/managedFields", "value": kept + [mine]})
    if last_applied:
        patch.append({"op": "remove", "path": "/metadata/annotations/" + LAST_APPLIED.replace("~", "~0").replace("/", "~1")})
    return patch


def helm_order(entry):
    """Helm's order of hooks: weight, then kind (install order), then namespace and name."""
    return (entry.life.weight, order.kind_rank(entry.ref), entry.ref.namespace, entry.ref.name)


def waited(ref):
    """Whether a hook of this kind is waited for until it completed (Jobs and Pods, as Helm does)."""
    return (ref.group, ref.kind) in WAITED_KINDS


def recreate_opt_in(body, ref, run_option):
    """(allowed, how): may an update that hits an immutable field delete and create the object again?
    The annotation `gitops.core/recreate: enabled` on the object in Git, or the run's `recreate`
    option, except for Namespaces, CRDs and PVCs, which only their own annotation opts in."""
    annotated = str(annotation(body, vocab.RECREATE_ANNOTATION) or "").strip().lower() == vocab.ENABLED
    if annotated:
        return True, "annotation %s: %s" % (vocab.RECREATE_ANNOTATION, vocab.ENABLED)
    if run_option and (ref.group, ref.kind) not in RECREATE_ONLY_ANNOTATED:
        return True, "recreate: true"
    return False, None
