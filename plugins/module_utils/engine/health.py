# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is an object healthy?  kstatus-style: a table of small pure functions, each reading a few
status fields and returning (status, message) with a message a person can act on.

Statuses: Current (healthy), InProgress (not yet), Failed (will not get there without a
change: waiting longer does not help), Terminating (being deleted), NotFound.  Generic rules
come first for every kind: deletionTimestamp means Terminating; an observedGeneration behind
the generation means InProgress; a Stalled=True condition means Failed and Reconciling=True
InProgress, whoever set them.  Kinds without a rule of their own are judged by their Ready
condition, and are Current once they exist when they have none.  A Pod that cannot be scheduled
or whose container is crash-looping is Failed; so is a workload still in progress while one of
its pods is (workload_with_pods, which the wait verb applies to the pods it lists)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

CURRENT, IN_PROGRESS, FAILED, TERMINATING, NOT_FOUND = "Current", "InProgress", "Failed", "Terminating", "NotFound"


def _conditions(obj):
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)}


def _true(cond):
    return (cond or {}).get("status") == "True"


def _why(cond):
    return cond.get("message") or cond.get("reason") or ""


def deployment(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = spec.get("replicas", 1)
    progressing = _conditions(obj).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return FAILED, "progress deadline exceeded: %s" % _why(progressing)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < want:
        return IN_PROGRESS, "Updated: %d/%d" % (updated, want)
    if status.get("replicas", 0) > updated:
        return IN_PROGRESS, "Pending termination: %d old replicas" % (status["replicas"] - updated)
    if available < want:
        return IN_PROGRESS, "Available: %d/%d" % (available, want)
    return CURRENT, "Available: %d/%d" % (available, want)


def statefulset(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    if ready < want:
        return IN_PROGRESS, "Ready: %d/%d" % (ready, want)
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        # Pods change only when someone deletes them: nothing to wait for once all are ready.
        return CURRENT, "Ready: %d/%d (OnDelete: pods update when deleted)" % (ready, want)
    partition = ((strategy.get("rollingUpdate") or {}).get("partition")) or 0
    if partition > 0:
        target = max(want - partition, 0)
        updated = status.get("updatedReplicas", 0)
        if updated < target:
            return IN_PROGRESS, "Updated: %d/%d (partition %d)" % (updated, target, partition)
        return CURRENT, "Ready: %d/%d, updated %d/%d (partition %d)" % (ready, want, updated, target, partition)
    if status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
        return IN_PROGRESS, "Updated: %d/%d" % (status.get("updatedReplicas", 0), want)
    return CURRENT, "Ready: %d/%d" % (ready, want)


def daemonset(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = status.get("desiredNumberScheduled", 0)
    if (spec.get("updateStrategy") or {}).get("type") != "OnDelete" and status.get("updatedNumberScheduled", 0) < want:
        return IN_PROGRESS, "Updated: %d/%d" % (status.get("updatedNumberScheduled", 0), want)
    if status.get("numberAvailable", 0) < want:
        return IN_PROGRESS, "Available: %d/%d" % (status.get("numberAvailable", 0), want)
    return CURRENT, "Available: %d/%d" % (want, want)


def replicaset(obj):
    want = (obj.get("spec") or {}).get("replicas", 1)
    ready = (obj.get("status") or {}).get("readyReplicas", 0)
    return (CURRENT if ready >= want else IN_PROGRESS), "Ready: %d/%d" % (ready, want)


def job(obj):
    cond = _conditions(obj)
    if _true(cond.get("Failed")):
        return FAILED, "job failed: %s" % _why(cond["Failed"])
    if _true(cond.get("Complete")):
        return CURRENT, "Complete"
    status = obj.get("status") or {}
    return IN_PROGRESS, "Running: %d active, %d succeeded" % (status.get("active", 0), status.get("succeeded", 0))


def crd(obj):
    cond = _conditions(obj)
    if _true(cond.get("Established")):
        return CURRENT, "Established"
    names = cond.get("NamesAccepted") or {}
    if names.get("status") == "False":
        return FAILED, "names not accepted: %s" % _why(names)
    return IN_PROGRESS, "not Established yet"


def namespace(obj):
    phase = (obj.get("status") or {}).get("phase")
    return (CURRENT if phase == "Active" else IN_PROGRESS), "phase: %s" % (phase or "unknown")


def pvc(obj):
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Lost":
        return FAILED, "phase: Lost (its volume is gone)"
    return (CURRENT if phase == "Bound" else IN_PROGRESS), "phase: %s" % (phase or "unknown")


def _crash_looping(obj):
    """Names of the containers (init containers too) waiting in CrashLoopBackOff."""
    status = obj.get("status") or {}
    return [c.get("name") for field in ("initContainerStatuses", "containerStatuses")
            for c in status.get(field) or []
            if isinstance(c, dict) and ((c.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"]


def pod(obj):
    status = obj.get("status") or {}
    phase = status.get("phase")
    if phase == "Succeeded":
        return CURRENT, "Succeeded"
    if phase == "Failed":
        return FAILED, "pod failed: %s" % (status.get("message") or status.get("reason") or "phase Failed")
    if _true(_conditions(obj).get("Ready")):
        return CURRENT, "Ready"
    stuck = pod_stuck(obj)
    if stuck:
        return FAILED, stuck
    return IN_PROGRESS, "phase: %s, not Ready" % (phase or "unknown")


def pod_stuck(obj):
    """Why a pod will not run without a change (it cannot be scheduled, a container is
    crash-looping), or None.  A pod that failed is not stuck: its workload may make another."""
    scheduled = _conditions(obj).get("PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return "cannot be scheduled: %s" % (_why(scheduled) or "Unschedulable")
    looping = _crash_looping(obj)
    if looping:
        return "containers in CrashLoopBackOff: %s" % ", ".join(looping)
    return None


def service(obj):
    if (obj.get("spec") or {}).get("type") != "LoadBalancer":
        return CURRENT, "Service"
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return (CURRENT if ingress else IN_PROGRESS), "LoadBalancer ingress: %s" % ("assigned" if ingress else "pending")


def generic(obj):
    """Kinds without a rule (custom resources): the Ready condition decides when present."""
    ready = _conditions(obj).get("Ready")
    if ready is None:
        return CURRENT, "exists"
    if _true(ready):
        return CURRENT, "Ready: True%s" % (" (%s)" % ready["message"] if ready.get("message") else "")
    return IN_PROGRESS, "Ready: %s%s" % (ready.get("status"), " (%s)" % _why(ready) if _why(ready) else "")


RULES = {
    ("apps", "Deployment"): deployment,
    ("apps", "StatefulSet"): statefulset,
    ("apps", "DaemonSet"): daemonset,
    ("apps", "ReplicaSet"): replicaset,
    ("batch", "Job"): job,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): crd,
    ("", "Namespace"): namespace,
    ("", "PersistentVolumeClaim"): pvc,
    ("", "Pod"): pod,
    ("", "Service"): service,
}
_WORKLOADS = {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("apps", "ReplicaSet")}
# Kinds whose pods tell why they are not progressing (the wait verb lists them while waiting).
POD_OWNERS = _WORKLOADS | {("batch", "Job")}


def _generation(group, kind, obj):
    """InProgress when the controller has not yet seen the latest spec, else None."""
    gen = (obj.get("metadata") or {}).get("generation")
    seen = (obj.get("status") or {}).get("observedGeneration")
    if gen is not None and seen is not None and seen < gen:
        return IN_PROGRESS, "the controller has not observed generation %d yet (at %d)" % (gen, seen)
    if gen is not None and seen is None and (group, kind) in _WORKLOADS:
        return IN_PROGRESS, "the controller has not observed the object yet"
    return None


def _stalled_or_reconciling(obj):
    """Failed on Stalled=True, InProgress on Reconciling=True (kstatus' conditions, for every kind)."""
    cond = _conditions(obj)
    if _true(cond.get("Stalled")):
        return FAILED, "Stalled: %s" % _why(cond["Stalled"])
    if _true(cond.get("Reconciling")):
        return IN_PROGRESS, "Reconciling: %s" % _why(cond["Reconciling"])
    return None


def check(group, kind, obj):
    """(status, message) of a live object; None is NotFound."""
    if obj is None:
        return NOT_FOUND, "not found"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return TERMINATING, "being deleted (deletionTimestamp %s)" % obj["metadata"]["deletionTimestamp"]
    return _generation(group, kind, obj) or _stalled_or_reconciling(obj) or RULES.get((group, kind), generic)(obj)


def workload_with_pods(status, message, pods):
    """A workload's (status, message) given its pods: still in progress while a pod is stuck
    (cannot be scheduled, crash-looping) is Failed, naming that pod."""
    if status != IN_PROGRESS:
        return status, message
    for p in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name") or ""):
        stuck = pod_stuck(p)
        if stuck:
            return FAILED, "%s; pod %s %s" % (message, (p.get("metadata") or {}).get("name"), stuck)
    return status, message
