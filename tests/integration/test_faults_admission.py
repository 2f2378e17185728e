"""Faults the real API server produces with its own machinery: a ValidatingAdmissionPolicy that
denies one object of a set, a MutatingAdmissionPolicy that changes what was applied, a request over
the API server's body limit (413), and API Priority and Fairness answering 429 (a FlowSchema and a
PriorityLevelConfiguration for the collection's identity).  No webhook or stand-in server: every
answer comes from kube-apiserver.  Policies are cluster-scoped, so each test names its own and
binds it to its own namespace only."""
from __future__ import annotations

import json
import ssl
import time
import urllib.request
import uuid

import pytest

from conftest import CLUSTER_DIR
from helpers import cm, ok, wait_until
from lockstep import Lockstep

pytestmark = pytest.mark.integration
# lockstep cases: their runs share ansible-playbook start-ups (lockstep.py)
lockstep = Lockstep()


@lockstep.fixture
def tag():
    return uuid.uuid4().hex[:8]


@lockstep.fixture
def cluster_objects(kubectl):
    """Apply cluster-scoped objects for one test; delete them afterwards."""
    made = []

    def apply(*objs):
        kubectl.run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}))
        made.extend(objs)
    yield apply
    for obj in reversed(made):
        kubectl.run("delete", obj["kind"].lower(), obj["metadata"]["name"], "--wait=false", check=False)


def configmap_rules():
    return {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                               "resources": ["configmaps"]}]}


def only(ns):
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}


@lockstep.case
def test_an_admission_policy_denying_one_object_stops_the_whole_set_before_any_write(
        run_task, kubectl, namespace, tag, cluster_objects):
    policy = "deny-" + tag
    cluster_objects(
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": policy},
         "spec": {"failurePolicy": "Fail", "matchConstraints": configmap_rules(),
                  "validations": [{"expression": "!has(object.metadata.labels) || !('forbidden' in object.metadata.labels)",
                                   "message": "ConfigMaps labelled forbidden are not allowed here"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": policy},
         "spec": {"policyName": policy, "validationActions": ["Deny"], "matchResources": only(namespace)}})
    wait_until(lambda: kubectl.run("-n", namespace, "create", "configmap", "probe", "--dry-run=server", "-o", "name",
                                   check=False).returncode == 0 and
               kubectl.run("apply", "--dry-run=server", "-f", "-", check=False,
                           input=json.dumps(cm("probe", namespace, labels={"forbidden": "x"}))).returncode != 0,
               timeout=30, interval=0.3, what="the policy")
    set_name = "vap-" + tag
    r = run_task("k8s_reconcile", {"set_name": set_name, "kubeconfig": "{{ kubeconfig }}", "objects": [
        cm("first", namespace), cm("bad", namespace, labels={"forbidden": "yes"}), cm("last", namespace)]})
    assert r["failed"]
    assert "ConfigMap %s/bad" % namespace in r["msg"], r["msg"]
    assert policy in r["msg"] and "ConfigMaps labelled forbidden are not allowed here" in r["msg"], r["msg"]
    assert "nothing was applied" in r["msg"] or "nothing was changed" in r["msg"], r["msg"]
    for name in ("first", "bad", "last"):  # the dry-run stage refused the set: nothing at all was written
        assert kubectl.run("-n", namespace, "get", "configmap", name, check=False).returncode != 0
    assert kubectl.run("-n", "gitops-system", "get", "configmap", "gitops-set-" + set_name,
                       check=False).returncode != 0  # no inventory either


@lockstep.case
def test_a_mutating_policy_causes_no_endless_drift_or_reapply(run_task, kubectl, namespace, tag, cluster_objects):
    served = kubectl.run("api-resources", "--api-group=admissionregistration.k8s.io", "-o", "name").stdout.split()
    if "mutatingadmissionpolicies.admissionregistration.k8s.io" not in served or not kubectl.run(
            "get", "--raw", "/apis/admissionregistration.k8s.io/v1", check=False).stdout.count("MutatingAdmissionPolicy"):
        pytest.skip("this API server has no admissionregistration.k8s.io/v1 MutatingAdmissionPolicy (v1 since "
                    "Kubernetes 1.36; .ci/run's oldest minor, 1.30, has none)")
    policy = "stamp-" + tag
    cluster_objects(
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
         "metadata": {"name": policy},
         "spec": {"failurePolicy": "Fail", "reinvocationPolicy": "Never", "matchConstraints": configmap_rules(),
                  "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
                      "expression": 'Object{metadata: Object.metadata{labels: {"policy.example/stamped": "yes"}}}'}}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
         "metadata": {"name": policy}, "spec": {"policyName": policy, "matchResources": only(namespace)}})

    def stamped():
        got = kubectl.run("-n", namespace, "create", "configmap", "probe", "--dry-run=server", "-o", "json", check=False)
        return got.returncode == 0 and "policy.example/stamped" in got.stdout
    wait_until(stamped, timeout=30, interval=0.3, what="the mutating policy")
    params = {"set_name": "map-" + tag, "kubeconfig": "{{ kubeconfig }}",
              "objects": [cm("a", namespace), cm("b", namespace, labels={"app": "b"})]}
    first = ok(run_task("k8s_reconcile", params))
    assert len(first["created"]) == 2
    live = kubectl.json("-n", namespace, "get", "configmap", "a")
    assert live["metadata"]["labels"]["policy.example/stamped"] == "yes"  # the policy did change it
    for _run in range(2):
        again = ok(run_task("k8s_reconcile", params))
        assert not again["changed"] and again["unchanged"] == 2, again
        assert "apply" not in again["api_requests"], again["api_requests"]
    drift = ok(run_task("drift_check", dict(params, fail_on_drift=True)))
    assert not drift["drift"] and drift["summary"]["in_sync"] == 2


@lockstep.case
def test_an_object_over_the_api_servers_request_limit_is_refused_and_nothing_is_written(
        run_task, kubectl, namespace, tag, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "small.json").write_text(json.dumps(cm("small", namespace)))
    huge = cm("huge", namespace)
    huge["data"] = {"blob": "x" * (3 * 1024 * 1024 + 100)}  # over kube-apiserver's 3 MiB request body limit
    (src / "huge.json").write_text(json.dumps(huge))
    r = run_task("k8s_reconcile", {"set_name": "big-" + tag, "kubeconfig": "{{ kubeconfig }}", "src": str(src)})
    assert r["failed"]
    assert "ConfigMap %s/huge" % namespace in r["msg"] and "Request entity too large" in r["msg"], r["msg"][:500]
    assert "nothing was applied" in r["msg"]
    assert "x" * 100 not in json.dumps(r)  # the body is not echoed
    assert kubectl.run("-n", namespace, "get", "configmap", "small", check=False).returncode != 0


# ------------------------------------------------------------------ API Priority and Fairness: real 429s

@lockstep.fixture
def throttled_identity(kubectl, namespace, tag, cluster_objects):
    """A ServiceAccount (cluster-admin, so RBAC never interferes) whose requests a FlowSchema sends to a
    PriorityLevelConfiguration of zero nominal seats that neither lends nor borrows, rejecting rather
    than queueing: the API server then runs one request of this identity at a time and answers every
    concurrent one with 429 and Retry-After.  Returns the auth params for the modules."""
    sa = "apf-" + tag
    kubectl.run("-n", namespace, "create", "serviceaccount", sa)
    kubectl.run("create", "clusterrolebinding", sa, "--clusterrole=cluster-admin", f"--serviceaccount={namespace}:{sa}")
    token = kubectl.run("-n", namespace, "create", "token", sa).stdout.strip()
    state = json.loads((CLUSTER_DIR / "state.json").read_text())
    auth = {"host": state["server"], "api_key": token, "ca_cert": str(CLUSTER_DIR / "pki" / "ca.crt")}
    cluster_objects(
        {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
         "metadata": {"name": sa},
         "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 0, "lendablePercent": 0,
                                                 "borrowingLimitPercent": 0, "limitResponse": {"type": "Reject"}}}},
        {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema", "metadata": {"name": sa},
         "spec": {"priorityLevelConfiguration": {"name": sa}, "matchingPrecedence": 500,
                  "rules": [{"subjects": [{"kind": "ServiceAccount",
                                           "serviceAccount": {"name": sa, "namespace": namespace}}],
                             "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                                "clusterScope": True, "namespaces": ["*"]}],
                             "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}})
    level_uid = kubectl.json("get", "prioritylevelconfiguration", sa)["metadata"]["uid"]
    context = ssl.create_default_context(cafile=auth["ca_cert"])

    def classified():  # the API server names the priority level it used in a response header
        request = urllib.request.Request(state["server"] + "/api", headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:
            return resp.headers.get("X-Kubernetes-PF-PriorityLevel-UID") == level_uid
    wait_until(classified, timeout=30, interval=0.3, what="the FlowSchema for %s" % sa)
    yield auth
    kubectl.run("delete", "clusterrolebinding", sa, check=False)


@pytest.mark.slow
@lockstep.case
def test_api_priority_and_fairness_429s_are_retried_then_give_a_clear_error(
        run_task, kubectl, namespace, tag, throttled_identity):
    objects = [cm("c%03d" % i, namespace) for i in range(24)]
    params = dict(throttled_identity, set_name="apf-" + tag, objects=objects, parallelism=16)

    # 16 workers, one seat: many requests are answered 429 at first; each is retried after Retry-After
    started = time.monotonic()
    done = ok(run_task("k8s_reconcile", params))
    took = time.monotonic() - started
    assert len(done["created"]) == 24
    assert done["api_requests"]["retries"] > 0, done["api_requests"]
    again = ok(run_task("k8s_reconcile", params))
    assert not again["changed"]
    print("APF: 24 objects through one seat: %.1fs, %d retries" % (took, done["api_requests"]["retries"]))

    # no retry budget: the first 429 ends the run with one clear error naming the request and the status
    changed = [dict(o, data={"k": "w"}) for o in objects]
    r = run_task("k8s_reconcile", dict(params, objects=changed, api_retries=0))
    assert r["failed"] and "429" in r["msg"] and "after 1 attempts" in r["msg"], r["msg"]
    assert "priority and fairness" in r["msg"], r["msg"]
