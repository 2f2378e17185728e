"""Smoke tests proving the local control plane is a real Kubernetes: controllers, garbage
collection, CRD validation and RBAC all behave as in a production cluster."""
from __future__ import annotations

import pytest
from helpers import wait_until

pytestmark = pytest.mark.integration


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %(ns)s, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: registry.invalid/web:1.0}
"""


def test_server_reports_the_pinned_version(kubectl, cluster_state):
    version = kubectl.json("version")["serverVersion"]
    assert version["gitVersion"] == cluster_state["version"]
    assert version["gitVersion"].startswith("v1.")


def test_fake_nodes_are_registered_and_ready(kubectl):
    nodes = kubectl.json("get", "nodes")["items"]
    ready = [n["metadata"]["name"] for n in nodes
             if {"type": "Ready", "status": "True"}.items() <= {
                 k: v for c in n["status"]["conditions"] if c["type"] == "Ready" for k, v in c.items()}.items()]
    assert len(ready) >= 2, nodes


def test_server_side_applied_deployment_becomes_available(kubectl, namespace):
    out = kubectl.run("apply", "--server-side", "--field-manager=smoke", "-f", "-",
                      input=DEPLOYMENT % {"ns": namespace}).stdout
    assert "serverside-applied" in out
    kubectl.run("-n", namespace, "wait", "deployment/web", "--for=condition=Available", "--timeout=90s")
    dep = kubectl.json("-n", namespace, "get", "deployment", "web", "--show-managed-fields")
    assert dep["status"]["readyReplicas"] == 2
    assert any(m["manager"] == "smoke" and m["operation"] == "Apply" for m in dep["metadata"]["managedFields"])
    pods = kubectl.json("-n", namespace, "get", "pods", "-l", "app=web")["items"]
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)


def test_namespace_deletion_completes(kubectl):
    kubectl.run("create", "namespace", "smoke-ns-delete")
    kubectl.run("-n", "smoke-ns-delete", "create", "configmap", "left-behind", "--from-literal=a=b")
    kubectl.run("delete", "namespace", "smoke-ns-delete", "--wait=false")
    wait_until(lambda: kubectl.get("namespace", "smoke-ns-delete") is None,
               timeout=90, what="namespace smoke-ns-delete to be finalized and removed")
    err = kubectl.run("get", "namespace", "smoke-ns-delete", check=False).stderr
    assert "NotFound" in err


def test_deleting_a_deployment_garbage_collects_replicasets_and_pods(kubectl, namespace):
    kubectl.run("apply", "--server-side", "-f", "-", input=DEPLOYMENT % {"ns": namespace})
    wait_until(lambda: len(kubectl.items("pods", namespace, "app=web")) == 2,
               what="2 pods")
    assert len(kubectl.json("-n", namespace, "get", "replicasets", "-l", "app=web")["items"]) == 1
    kubectl.run("-n", namespace, "delete", "deployment", "web", "--cascade=background", "--wait=false")
    wait_until(lambda: not kubectl.items("replicasets", namespace, "app=web")
               and not kubectl.items("pods", namespace, "app=web"),
               timeout=90, what="the garbage collector to remove ReplicaSets and Pods")


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.smoke.gitops.dev}
spec:
  group: smoke.gitops.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1}
"""


def test_crd_becomes_established_and_its_schema_validates(kubectl, namespace):
    kubectl.run("apply", "--server-side", "-f", "-", input=CRD)
    kubectl.run("wait", "crd/widgets.smoke.gitops.dev", "--for=condition=Established", "--timeout=60s")
    good = "apiVersion: smoke.gitops.dev/v1\nkind: Widget\nmetadata: {name: ok, namespace: %s}\nspec: {size: 3}\n"
    wait_until(lambda: kubectl.run("apply", "--server-side", "-f", "-", input=good % namespace,
                                   check=False).returncode == 0, timeout=30, what="the Widget to be accepted")
    assert kubectl.json("-n", namespace, "get", "widgets.smoke.gitops.dev", "ok")["spec"]["size"] == 3
    bad = good.replace("name: ok", "name: bad").replace("size: 3", 'size: "big"')
    refused = kubectl.run("apply", "--server-side", "-f", "-", input=bad % namespace, check=False)
    assert refused.returncode != 0
    assert ".spec.size" in refused.stderr and "expected numeric" in refused.stderr
    zero = good.replace("name: ok", "name: zero").replace("size: 3", "size: 0")
    refused = kubectl.run("apply", "--server-side", "-f", "-", input=zero % namespace, check=False)
    assert refused.returncode != 0 and "spec.size" in refused.stderr


def test_rbac_limited_service_account_token_is_refused_what_it_may_not_do(kubectl, namespace, cluster_state):
    kubectl.run("-n", namespace, "create", "configmap", "visible", "--from-literal=a=b")
    kubectl.run("-n", namespace, "create", "serviceaccount", "reader")
    kubectl.run("-n", namespace, "create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps")
    kubectl.run("-n", namespace, "create", "rolebinding", "reader", "--role=cm-reader",
                f"--serviceaccount={namespace}:reader")
    token = kubectl.run("-n", namespace, "create", "token", "reader").stdout.strip()
    as_reader = ("--server", cluster_state["server"], "--token", token,
                 "--certificate-authority", str(kubectl.kubeconfig.parent / "pki" / "ca.crt"))
    listed = kubectl.run("-n", namespace, "get", "configmaps", "-o", "name", extra=as_reader)
    assert "configmap/visible" in listed.stdout
    for verb in (("create", "configmap", "nope", "--from-literal=a=b"), ("get", "secrets"),
                 ("get", "configmaps", "-n", "default")):
        denied = kubectl.run("-n", namespace, *verb, extra=as_reader, check=False)
        assert denied.returncode != 0, verb
        assert "forbidden" in denied.stderr.lower(), denied.stderr
        assert token not in denied.stderr
