# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is an object healthy?  A table of small pure functions, kstatus-style: each reads a few status
fields and returns (healthy, message) with a message a person can act on.  Objects of kinds
without a rule and without a Ready condition are healthy once they exist."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _conditions(obj):
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)}


def _observed(obj):
    gen = (obj.get("metadata") or {}).get("generation")
    seen = (obj.get("status") or {}).get("observedGeneration")
    if gen is not None and seen is not None and seen < gen:
        return False, "Progressing: the controller has not observed generation %d yet (at %d)" % (gen, seen)
    if gen is not None and seen is None and obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
        return False, "Progressing: the controller has not observed the object yet"
    return True, ""


def deployment(obj):
    ok, msg = _observed(obj)
    if not ok:
        return ok, msg
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = spec.get("replicas", 1)
    cond = _conditions(obj)
    progressing = cond.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return False, "Failed: progress deadline exceeded (%s)" % progressing.get("message", "")
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < want:
        return False, "Updated: %d/%d" % (updated, want)
    if status.get("replicas", 0) > updated:
        return False, "Pending termination: %d old replicas" % (status["replicas"] - updated)
    if available < want:
        return False, "Available: %d/%d" % (available, want)
    return True, "Available: %d/%d" % (available, want)


def statefulset(obj):
    ok, msg = _observed(obj)
    if not ok:
        return ok, msg
    want = (obj.get("spec") or {}).get("replicas", 1)
    status = obj.get("status") or {}
    if status.get("readyReplicas", 0) < want:
        return False, "Ready: %d/%d" % (status.get("readyReplicas", 0), want)
    if status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
        return False, "Updated: %d/%d" % (status.get("updatedReplicas", 0), want)
    return True, "Ready: %d/%d" % (want, want)


def daemonset(obj):
    ok, msg = _observed(obj)
    if not ok:
        return ok, msg
    status = obj.get("status") or {}
    want = status.get("desiredNumberScheduled", 0)
    if status.get("updatedNumberScheduled", 0) < want:
        return False, "Updated: %d/%d" % (status.get("updatedNumberScheduled", 0), want)
    if status.get("numberAvailable", 0) < want:
        return False, "Available: %d/%d" % (status.get("numberAvailable", 0), want)
    return True, "Available: %d/%d" % (want, want)


def replicaset(obj):
    ok, msg = _observed(obj)
    if not ok:
        return ok, msg
    want = (obj.get("spec") or {}).get("replicas", 1)
    ready = (obj.get("status") or {}).get("readyReplicas", 0)
    return ready >= want, "Ready: %d/%d" % (ready, want)


def job(obj):
    cond = _conditions(obj)
    if (cond.get("Failed") or {}).get("status") == "True":
        return False, "Failed: %s" % cond["Failed"].get("message", cond["Failed"].get("reason", ""))
    if (cond.get("Complete") or {}).get("status") == "True":
        return True, "Complete"
    status = obj.get("status") or {}
    return False, "Running: %d active, %d succeeded" % (status.get("active", 0), status.get("succeeded", 0))


def crd(obj):
    cond = _conditions(obj)
    if (cond.get("Established") or {}).get("status") == "True":
        return True, "Established"
    names = cond.get("NamesAccepted") or {}
    if names.get("status") == "False":
        return False, "NamesAccepted: %s" % names.get("message", "")
    return False, "not Established yet"


def namespace(obj):
    phase = (obj.get("status") or {}).get("phase")
    return phase == "Active", "phase: %s" % (phase or "unknown")


def pvc(obj):
    phase = (obj.get("status") or {}).get("phase")
    return phase == "Bound", "phase: %s" % (phase or "unknown")


def pod(obj):
    cond = _conditions(obj)
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return True, "Succeeded"
    if (cond.get("Ready") or {}).get("status") == "True":
        return True, "Ready"
    return False, "phase: %s, not Ready" % (phase or "unknown")


def service(obj):
    if (obj.get("spec") or {}).get("type") != "LoadBalancer":
        return True, "Service"
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return bool(ingress), "LoadBalancer ingress: %s" % ("assigned" if ingress else "pending")


def generic(obj):
    """Custom resources: a Ready condition decides when there is one; else existing is enough."""
    ready = _conditions(obj).get("Ready")
    if ready is None:
        return True, "exists"
    ok, msg = _observed(obj)
    if not ok:
        return ok, msg
    status = ready.get("status")
    return status == "True", "Ready: %s%s" % (status, " (%s)" % ready["message"] if ready.get("message") else "")


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


def check(group, kind, obj):
    """(healthy, message) of a live object; None (missing) is unhealthy."""
    if obj is None:
        return False, "not found"
    return RULES.get((group, kind), generic)(obj)
