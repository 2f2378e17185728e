"""Content and objects made by others, through real ansible-playbook, the real helm binary and the
real control plane (KWOK runs the Jobs' pods to completion; the TTL controller deletes finished
Jobs): a chart whose hooks look like the common public charts' (admission-webhook certificate Jobs
with TTL 0 and hook-succeeded, a startup check, a weighted DB migration, a failing hook), run-once
Jobs, immutable fields, and objects made by kubectl and `helm install` taken into a set."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import CLUSTER_DIR, tasks_book
from gitfixtures import Repo
from helpers import cm, ok, unique_name
from lockstep import Lockstep

pytestmark = pytest.mark.integration
# the tests that run playbooks through run_tasks are lockstep cases: their runs share ansible-playbook start-ups
# (lockstep.py)
lockstep = Lockstep()

CHART = "apiVersion: v2\nname: web\nversion: 0.1.0\n"
VALUES = "message: one\nfailMigration: false\n"


def hook_job(name: str, hook: str, policy: str, weight: int = 0, ttl: int | None = None, extra: str = "") -> str:
    return f"""apiVersion: batch/v1
kind: Job
metadata:
  name: {{{{ .Release.Name }}}}-{name}
  annotations:
    helm.sh/hook: {hook}
    helm.sh/hook-weight: "{weight}"
    helm.sh/hook-delete-policy: {policy}
spec:
  {f"ttlSecondsAfterFinished: {ttl}" if ttl is not None else ""}
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      serviceAccountName: {{{{ .Release.Name }}}}-admission
      containers:
        - name: {name}
          image: registry.invalid/{name}:1
{extra}"""


# The shape of ingress-nginx's and cert-manager's admission-webhook certificate hooks: a
# ServiceAccount in both stages, a create Job before the release and a patch Job after it, each
# deleted once it succeeded and finished Jobs deleted at once (TTL 0); plus a startup check after
# the first install, and a DB migration before each upgrade (weight 5: after the certificate).
TEMPLATES = {
    "templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
                                "data:\n  message: {{ .Values.message | quote }}\n",
    "templates/admission-sa.yaml": """apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}-admission
  annotations:
    helm.sh/hook: pre-install,pre-upgrade,post-install,post-upgrade
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
""",
    "templates/admission-create.yaml": hook_job("create", "pre-install,pre-upgrade",
                                                "before-hook-creation,hook-succeeded", ttl=0),
    "templates/admission-patch.yaml": hook_job("patch", "post-install,post-upgrade",
                                               "before-hook-creation,hook-succeeded", ttl=0),
    "templates/startup-check.yaml": hook_job("check", "post-install", "hook-succeeded", weight=1),
    "templates/migrate.yaml": hook_job("migrate", "pre-upgrade", "before-hook-creation", weight=5, extra=(
        "      {{- if .Values.failMigration }}\n      nodeSelector: {no-such-node: \"true\"}\n      {{- end }}\n")),
}


def chart_files(values: str) -> dict[str, str]:
    return {"charts/web/Chart.yaml": CHART, "charts/web/values.yaml": values,
            **{f"charts/web/{path}": text for path, text in TEMPLATES.items()}}


def hooks_of(result):
    return [(h["ref"].split("/")[-1], h["action"], h["stages"]) for h in result["hooks"]]


@lockstep.case
def test_chart_hooks_run_as_helm_upgrade_does(tmp_path, run_tasks, kubectl, namespace):
    repo = Repo(tmp_path)
    first = repo.commit(chart_files(VALUES))
    second = repo.commit(chart_files("message: two\nfailMigration: false\n"))
    third = repo.commit(chart_files("message: three\nfailMigration: true\n"))
    set_name = unique_name("hk")
    pull = {"repo": repo.url, "path": ["charts/web"], "dest": str(tmp_path / "cache"),
            "helm": {"release_namespace": namespace}}
    check = {"set_name": set_name, "kubeconfig": "{{ kubeconfig }}"}
    sync = dict(check, wait_timeout=60)

    def objects(step):
        return {"objects": "{{ step%d.objects }}" % step, "sources": "{{ step%d.sources }}" % step}
    r = run_tasks([
        ("git_desired_state", dict(pull, version=first)),                       # 0
        ("k8s_reconcile", dict(sync, **objects(0))),                            # 1 first sync: install
        ("k8s_reconcile", dict(sync, **objects(0))),                            # 2 no-op
        ("drift_check", dict(check, **objects(0))),                             # 3 clean
        ("git_desired_state", dict(pull, version=second)),                      # 4
        ("k8s_reconcile", dict(sync, **objects(4)), {"check": True}),           # 5 preview of the upgrade
        ("k8s_reconcile", dict(sync, **objects(4))),                            # 6 upgrade
        ("drift_check", dict(check, **objects(4))),                             # 7 clean
        ("git_desired_state", dict(pull, version=third)),                       # 8
        ("k8s_reconcile", dict(sync, **objects(8))),                            # 9 a failing pre-upgrade hook
    ])
    install = ok(r[1])
    assert install["changed"] and install["created"] == [f"ConfigMap {namespace}/web-config"]
    assert hooks_of(install) == [  # Helm's order: weight, then kind, then name
        ("web-admission", "run", ["pre", "post"]), ("web-create", "run", ["pre"]), ("web-patch", "run", ["post"]),
        ("web-check", "run", ["post"]), ("web-migrate", "skip", [])]
    assert "pre-upgrade hook, and this sync is an install" in install["hooks"][4]["reason"]
    noop = ok(r[2])
    assert noop["changed"] is False and {h["action"] for h in noop["hooks"]} == {"skip"}
    assert "unchanged since its hooks last succeeded" in noop["hooks"][0]["reason"]
    assert ok(r[3])["drift"] is False  # the hooks ran and were deleted: not missing, not drift
    preview = ok(r[5])
    assert hooks_of(preview) == [
        ("web-admission", "run", ["pre", "post"]), ("web-create", "run", ["pre"]), ("web-patch", "run", ["post"]),
        ("web-check", "skip", []), ("web-migrate", "run", ["pre"])]
    assert f"{namespace}/web changed" in preview["hooks"][0]["reason"]
    upgrade = ok(r[6])
    assert upgrade["updated"] == [f"ConfigMap {namespace}/web-config"] and hooks_of(upgrade) == hooks_of(preview)
    assert ok(r[7])["drift"] is False
    failed = r[9]
    assert failed["failed"] and f"pre hook batch/Job {namespace}/web-migrate (charts/web/templates/migrate.yaml" \
        in failed["msg"] and "cannot be scheduled" in failed["msg"] and "nothing after it was applied" in failed["msg"]
    # nothing of the release was touched by the failed upgrade; the kept migration Job is the failed one
    assert kubectl.json("-n", namespace, "get", "configmap", "web-config")["data"] == {"message": "two"}
    migrate = kubectl.json("-n", namespace, "get", "job", "web-migrate")
    assert migrate["spec"]["template"]["spec"]["nodeSelector"] == {"no-such-node": "true"}
    leftovers = kubectl.run("-n", namespace, "get", "jobs,serviceaccounts", "-o", "name").stdout.split()
    assert "job.batch/web-create" not in leftovers and "job.batch/web-patch" not in leftovers


def book(steps: list) -> str:
    """A playbook of gitops.core module steps (module, params[, flags]) and shell steps ("sh", argv)."""
    lines = ["- hosts: localhost", "  gather_facts: false", "  tasks:"]
    for index, step in enumerate(steps):
        if step[0] == "sh":
            lines += [f"    - ansible.builtin.command: {json.dumps({'argv': step[1]})}", "      changed_when: false"]
            continue
        lines += tasks_book([step], names=[f"step{index}"]).split("  tasks:\n", 1)[1].splitlines()
    return "\n".join(lines) + "\n"


def job(name: str, ns: str, image: str, ttl: int | None = None) -> dict:
    spec = {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                                                     "containers": [{"name": "task", "image": image}]}}}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def test_run_once_jobs_and_immutable_fields(ansible_playbook, kubectl, namespace):
    set_name = unique_name("ro")
    once_v1, once_v2 = job("seed", namespace, "registry.invalid/seed:1", ttl=0), \
        job("seed", namespace, "registry.invalid/seed:2", ttl=0)
    plain_v1, plain_v2 = job("report", namespace, "registry.invalid/report:1"), \
        job("report", namespace, "registry.invalid/report:2")
    base = {"set_name": set_name, "kubeconfig": "{{ kubeconfig }}"}
    wait_gone = ["kubectl", "--kubeconfig", str(CLUSTER_DIR / "kubeconfig"), "-n", namespace, "wait",
                 "--for=delete", "job/seed", "--timeout=60s"]
    steps = [
        ("k8s_reconcile", dict(base, objects=[once_v1, plain_v1], wait=True, wait_timeout=60)),   # 0
        ("sh", wait_gone),                                                                       # 1 TTL 0
        ("k8s_reconcile", dict(base, objects=[once_v1, plain_v1])),                              # 2 no-op
        ("drift_check", dict(base, objects=[once_v1, plain_v1])),                                # 3 clean
        ("k8s_reconcile", dict(base, objects=[once_v1, plain_v2])),                              # 4 immutable
        ("k8s_reconcile", dict(base, objects=[once_v1, plain_v2], recreate=True), {"check": True}),  # 5
        ("k8s_reconcile", dict(base, objects=[once_v1, plain_v2], recreate=True, max_deletions=0)),  # 6
        ("k8s_reconcile", dict(base, objects=[once_v2, plain_v2], recreate=True)),               # 7
    ]
    played = ansible_playbook(book(steps))
    r = {int(k[4:]): v for k, v in played.results.items() if k.startswith("step")}
    first = ok(r[0])
    assert sorted(first["created"]) == [f"batch/Job {namespace}/report", f"batch/Job {namespace}/seed"]
    noop = ok(r[2])
    assert noop["changed"] is False and noop["skipped_objects"] == [{
        "ref": f"batch/Job {namespace}/seed", "action": "skip",
        "reason": "run once: it ran for this content and is gone; it runs again when its content changes in Git"}]
    assert ok(r[3])["drift"] is False
    refused = r[4]
    assert refused["failed"] and f"batch/Job {namespace}/report: spec.template is immutable" in refused["msg"]
    assert "annotate it gitops.core/recreate: enabled in Git, or run with recreate: true" in refused["msg"]
    preview = ok(r[5])
    assert preview["recreated"] == [f"batch/Job {namespace}/report"]
    assert "spec.template is immutable: recreated (recreate: true)" in \
        [o for o in preview["objects"] if o["action"] == "recreate"][0]["reason"]
    assert r[6]["failed"] and "would delete (prune or recreate) 1 objects, more than max_deletions=0" in r[6]["msg"]
    final = ok(r[7])
    assert final["recreated"] == [f"batch/Job {namespace}/report"] and final["created"] == [
        f"batch/Job {namespace}/seed"]  # its content changed: it runs again
    report = kubectl.json("-n", namespace, "get", "job", "report")
    assert report["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.invalid/report:2"


SMALL_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    "values.yaml": "tiers: [a, b]\n",
    "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tiers\ndata:\n"
                         "{{- range .Values.tiers }}\n  {{ . }}: \"on\"\n{{- end }}\n",
}


@lockstep.case
def test_objects_made_by_kubectl_and_helm_are_taken_over(tmp_path, run_tasks, kubectl, namespace):
    kubectl.run("apply", "-f", "-", input=json.dumps(cm("applied", namespace, {"a": "1", "b": "2"})))
    kubectl.run("-n", namespace, "create", "configmap", "created", "--from-literal=a=1", "--from-literal=b=2")
    chart = tmp_path / "shop"
    for rel, text in SMALL_CHART.items():
        (chart / rel).parent.mkdir(parents=True, exist_ok=True)
        (chart / rel).write_text(text)
    env = dict(os.environ, KUBECONFIG=str(CLUSTER_DIR / "kubeconfig"), HELM_CACHE_HOME=str(tmp_path / "h"),
               HELM_CONFIG_HOME=str(tmp_path / "h"), HELM_DATA_HOME=str(tmp_path / "h"))
    subprocess.run(["helm", "install", "shop", str(chart), "-n", namespace], env=env, check=True, capture_output=True)
    repo = Repo(tmp_path)
    installed = repo.commit({f"charts/shop/{rel}": text for rel, text in SMALL_CHART.items()})
    dropped = repo.commit({"charts/shop/values.yaml": "tiers: [a]\n"})
    set_name = unique_name("to")
    base = {"set_name": set_name, "kubeconfig": "{{ kubeconfig }}"}
    pull = {"repo": repo.url, "path": ["charts/shop"], "dest": str(tmp_path / "cache"),
            "helm": {"release_name": "shop", "release_namespace": namespace}}
    both, only_a = [cm("applied", namespace, {"a": "1", "b": "2"}), cm("created", namespace, {"a": "1", "b": "2"})], \
        [cm("applied", namespace, {"a": "1"}), cm("created", namespace, {"a": "1"})]
    r = run_tasks([
        ("git_desired_state", dict(pull, version=installed)),                                  # 0
        ("k8s_reconcile", dict(base, objects="{{ step0.objects + %s }}" % json.dumps(both))),  # 1 takeover
        ("git_desired_state", dict(pull, version=dropped)),                                   # 2
        ("drift_check", dict(base, objects="{{ step2.objects + %s }}" % json.dumps(only_a))),  # 3 reports b
        ("k8s_reconcile", dict(base, objects="{{ step2.objects + %s }}" % json.dumps(only_a))),  # 4 removes b
        ("drift_check", dict(base, objects="{{ step2.objects + %s }}" % json.dumps(only_a))),  # 5 clean
    ])
    taken = ok(r[1])
    reasons = {o["ref"]: o["reason"] for o in taken["objects"]}
    assert reasons[f"ConfigMap {namespace}/applied"] == \
        "adopted: no set managed it before; takes over fields from kubectl-client-side-apply"
    assert reasons[f"ConfigMap {namespace}/created"] == "adopted: no set managed it before; takes over fields from kubectl-create"
    assert reasons[f"ConfigMap {namespace}/shop-tiers"] == "adopted: no set managed it before; takes over fields from helm"
    drift = r[3]
    assert drift["failed"] and drift["summary"]["modified"] == 3
    assert {d["path"] for o in drift["objects"] for d in o["diffs"]} == {"data.b"}
    ok(r[4])
    assert ok(r[5])["drift"] is False
    for name in ("applied", "created", "shop-tiers"):
        live = kubectl.json("-n", namespace, "get", "configmap", name)
        assert live["data"] == {"a": "1" if name != "shop-tiers" else "on"}, name
        assert "kubectl.kubernetes.io/last-applied-configuration" not in (live["metadata"].get("annotations") or {})
    # Helm's release record stays (helm list still shows it): delete it, never `helm uninstall`, which would
    # delete the objects the set now owns (docs/engine.md, "Taking over from kubectl and Helm").
    assert kubectl.run("-n", namespace, "get", "secret", "-l", "owner=helm,name=shop", "-o", "name").stdout.strip()


PUBLIC_CHARTS = Path(__file__).resolve().parent / "charts"


@lockstep.case
def test_public_charts_apply_check_clean_and_re_run_as_a_no_op(tmp_path, run_tasks, kubectl, namespace):
    """Charts written by others: metrics-server 3.12.2 and podinfo 6.14.1 as their maintainers publish
    them (tests/integration/charts/*/SOURCE.md), and the chart `helm create` writes (Helm's own starter,
    every Helm user's first chart: its test hook is skipped as --skip-tests does).  podinfo's hook Jobs
    (hook-delete-policy hook-succeeded,hook-failed) run at install and again at an upgrade, never at an
    unchanged re-run, and are neither drift nor leavers once Kubernetes has deleted them."""
    files = {}
    for name in ("metrics-server", "podinfo"):
        chart = PUBLIC_CHARTS / name
        files.update({f"charts/{name}/{p.relative_to(chart)}": p.read_text() for p in chart.rglob("*")
                      if p.is_file() and p.name != "SOURCE.md"})
    repo = Repo(tmp_path)
    repo.write(files)
    env = dict(os.environ, HELM_CACHE_HOME=str(tmp_path / "h"), HELM_CONFIG_HOME=str(tmp_path / "h"),
               HELM_DATA_HOME=str(tmp_path / "h"))
    subprocess.run(["helm", "create", str(repo.work / "charts" / "starter")], env=env, check=True, capture_output=True)
    repo.commit({})
    release = unique_name("ms", 6)
    base = {"set_name": release, "kubeconfig": "{{ kubeconfig }}"}
    jobs = {hook: {"job": {"enabled": True}} for hook in ("preInstall", "postInstall", "preUpgrade", "postUpgrade")}
    podinfo = {"hooks": jobs, "redis": {"enabled": True}, "serviceAccount": {"enabled": True}}

    def pull(podinfo_values):
        return {"repo": repo.url, "path": ["charts/metrics-server", "charts/starter", "charts/podinfo"],
                "dest": str(tmp_path / "cache"), "helm": {"release_namespace": namespace, "charts": [
                    {"path": "charts/metrics-server", "release_name": release,
                     "release_values": {"apiService": {"create": False}}},
                    {"path": "charts/starter", "release_name": release + "-web"},
                    {"path": "charts/podinfo", "release_name": release + "-pi", "release_values": podinfo_values}]}}

    def sync(step):
        return ("k8s_reconcile", dict(base, objects=f"{{{{ step{step}.objects }}}}", sources=f"{{{{ step{step}.sources }}}}"))

    r = run_tasks([
        ("git_desired_state", pull(podinfo)),
        sync(0),
        ("drift_check", dict(base, objects="{{ step0.objects }}", sources="{{ step0.sources }}")),
        sync(0),
        ("git_desired_state", pull(dict(podinfo, replicaCount=2))),
        sync(4),
        ("k8s_reconcile", dict(base, objects=[], allow_empty=True)),  # the cluster-scoped objects go too
    ])
    rbac = "rbac.authorization.k8s.io/"
    assert sorted(o.split(" ")[0] for o in ok(r[1])["created"]) == [
        "ConfigMap", "Service", "Service", "Service", "Service", "ServiceAccount", "ServiceAccount", "ServiceAccount",
        "apps/Deployment", "apps/Deployment", "apps/Deployment", "apps/Deployment",
        rbac + "ClusterRole", rbac + "ClusterRole", rbac + "ClusterRoleBinding", rbac + "ClusterRoleBinding",
        rbac + "RoleBinding"]
    assert f"{rbac}RoleBinding kube-system/{release}-metrics-server-auth-reader" in r[1]["created"]
    assert f"apps/Deployment {namespace}/{release}-web-starter" in r[1]["created"]
    pi = f"{release}-pi-podinfo"

    def ran(result):  # hook name -> run or skip
        return {h["ref"].split("/")[-1][len(pi) + 1:]: h["action"] for h in result["hooks"]}
    assert ran(r[1]) == {"pre-install": "run", "pre-upgrade": "skip", "post-install": "run", "post-upgrade": "skip"}
    assert ok(r[2])["drift"] is False and ok(r[3])["changed"] is False
    assert {h["action"] for h in r[3]["hooks"]} == {"skip"}
    assert ok(r[5])["updated"] == [f"apps/Deployment {namespace}/{pi}"]
    assert ran(r[5]) == {"pre-install": "skip", "pre-upgrade": "run", "post-install": "skip", "post-upgrade": "run"}
    assert len(ok(r[6])["pruned"]) == 17
    # hook-succeeded: Kubernetes has none of podinfo's hook Jobs left, and the prune took none of them
    assert not kubectl.run("-n", namespace, "get", "jobs", "-o", "name").stdout.strip()
    assert not any("Job" in ref for ref in r[6]["pruned"])
