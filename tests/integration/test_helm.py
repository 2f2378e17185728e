"""Helm charts in the desired state (git_desired_state render=helm) through real ansible-playbook,
the real helm binary (built from its Go module by cluster.py) and the real local control plane:
a chart with a vendored dependency, per-cluster values, a CRD in crds/ and .Capabilities checks is
rendered, reconciled, re-run as a no-op and drift-checked; what would render from outside the
verified commit is refused."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from conftest import roles_book, tasks_book
from gitfixtures import Repo

pytestmark = pytest.mark.integration

METRICS_SERVER = Path(__file__).resolve().parent / "charts" / "metrics-server-3.13"  # SOURCE.md there

CHART = """apiVersion: v2
name: %s
version: 0.1.0
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
        - name: app
          image: registry.invalid/web:1
          env:
            - {name: COLOR, value: {{ .Values.color | quote }}}
"""

# A ConfigMap saying what the chart saw of the cluster, and a Widget only where the API is served.
CAPABILITIES = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-capabilities
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  widgets: {{ .Capabilities.APIVersions.Has "%(group)s/v1/Widget" | quote }}
{{- if .Capabilities.APIVersions.Has "%(group)s/v1/Widget" }}
---
apiVersion: %(group)s/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}
spec:
  size: {{ .Values.replicas }}
{{- end }}
"""

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%(group)s
spec:
  group: %(group)s
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

GREETER_CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-greeter
data:
  greeting: {{ .Values.greeting | quote }}
"""


def web_chart(group: str) -> dict[str, str]:
    """charts/web: a dependency vendored in charts/ (its Chart.yaml names a remote repository, which is
    never contacted), a CRD in crds/, templates reading .Values and .Capabilities; values per cluster."""
    return {
        "charts/web/Chart.yaml": (CHART % "web" + "dependencies:\n  - name: greeter\n    version: 0.1.0\n"
                                  "    repository: https://charts.example.invalid/stable\n"),
        "charts/web/values.yaml": "replicas: 1\ncolor: blue\ngreeter: {greeting: hello}\n",
        "charts/web/crds/widgets.yaml": CRD % {"group": group},
        "charts/web/templates/deployment.yaml": DEPLOYMENT,
        "charts/web/templates/capabilities.yaml": CAPABILITIES % {"group": group},
        "charts/web/templates/_helpers.tpl": '{{- define "web.name" -}}{{ .Chart.Name }}{{- end -}}\n',
        "charts/web/charts/greeter/Chart.yaml": CHART % "greeter",
        "charts/web/charts/greeter/values.yaml": "greeting: hi\n",
        "charts/web/charts/greeter/templates/configmap.yaml": GREETER_CM,
        "clusters/prod.yaml": "replicas: 3\ncolor: red\n",
        "clusters/staging.yaml": "replicas: 2\n",
    }


def by_ref(result):
    return {s["ref"]: (obj, s) for obj, s in zip(result["objects"], result["sources"])}


def test_a_chart_renders_per_cluster_reconciles_is_a_no_op_and_drift_names_its_template(
        tmp_path, ansible_playbook, kubectl, namespace):
    group = f"h{uuid.uuid4().hex[:8]}.example.com"
    repo = Repo(tmp_path)
    repo.commit(web_chart(group))
    set_name = "h" + uuid.uuid4().hex[:10]
    helm = {"release_name": "web", "release_namespace": namespace, "kube_version": "1.31.4"}
    desired = {"repo": repo.url, "dest": str(tmp_path / "cache"), "path": ["charts/web"], "render": "helm"}
    prod = dict(desired, helm=dict(helm, values_files=["clusters/prod.yaml"], api_versions=[f"{group}/v1/Widget"]))
    # staging renders with what the cluster serves (k8s_capabilities), as Argo CD would
    staging = dict(desired, helm=dict(helm, values_files=["clusters/staging.yaml"], kube_version="{{ caps.kube_version }}",
                                      api_versions="{{ caps.api_versions }}"))
    reconcile = {"set_name": set_name, "kubeconfig": "{{ kubeconfig }}", "objects": "{{ prod.objects }}",
                 "sources": "{{ prod.sources }}", "revision": "{{ prod.commit }}"}
    book = tasks_book([("k8s_capabilities", {"kubeconfig": "{{ kubeconfig }}"}), ("git_desired_state", prod),
                       ("git_desired_state", staging), ("k8s_reconcile", reconcile), ("k8s_reconcile", reconcile)],
                      names=["caps", "prod", "staging", "applied", "again"])
    # A hand edit of a chart-rendered field, then the drift check of the same commit.
    book += (f"    - name: Scale by hand\n      ansible.builtin.command: kubectl --kubeconfig {{{{ kubeconfig }}}} "
             f"-n {namespace} scale deployment/web --replicas=5\n      changed_when: true\n")
    book += tasks_book([("drift_check", dict(reconcile, fail_on_drift=False))], names=["drift"]).split("  tasks:\n")[1]
    run = ansible_playbook(book)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    r = run.results

    objects = by_ref(r["prod"])
    assert r["prod"]["files"] == ["charts/web"]
    deploy, deploy_source = objects[f"apps/Deployment {namespace}/web"]
    assert deploy["spec"]["replicas"] == 3  # clusters/prod.yaml over the chart's values.yaml
    assert deploy["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "COLOR", "value": "red"}]
    assert deploy_source == {"ref": f"apps/Deployment {namespace}/web",
                             "file": "charts/web/templates/deployment.yaml", "document": 1}
    greeter, greeter_source = objects[f"ConfigMap {namespace}/web-greeter"]
    assert greeter["data"] == {"greeting": "hello"}  # the parent chart's values reach the vendored dependency
    assert greeter_source["file"] == "charts/web/charts/greeter/templates/configmap.yaml"
    crd, crd_source = objects[f"apiextensions.k8s.io/CustomResourceDefinition widgets.{group}"]
    assert crd_source["file"] == "charts/web/crds/widgets.yaml" and "namespace" not in crd["metadata"]
    caps = objects[f"ConfigMap {namespace}/web-capabilities"][0]
    assert caps["data"] == {"kubeVersion": "v1.31.4", "widgets": "true"}
    widget, widget_source = objects[f"{group}/Widget {namespace}/web"]
    assert widget["spec"] == {"size": 3} and widget_source == {
        "ref": f"{group}/Widget {namespace}/web", "file": "charts/web/templates/capabilities.yaml", "document": 2}
    assert r["prod"]["helm_hooks_left_out"] == []

    server = kubectl.json("version")["serverVersion"]["gitVersion"]
    assert not r["caps"]["changed"] and r["caps"]["kube_version"] == server
    assert {"v1", "apps/v1", "v1/ConfigMap", "apps/v1/Deployment"} <= set(r["caps"]["api_versions"])
    assert f"{group}/v1" not in r["caps"]["api_versions"]  # its CRD is not applied yet
    staged = by_ref(r["staging"])
    assert staged[f"apps/Deployment {namespace}/web"][0]["spec"]["replicas"] == 2
    assert f"{group}/Widget {namespace}/web" not in staged  # not served by the cluster yet
    assert staged[f"ConfigMap {namespace}/web-capabilities"][0]["data"] == {"kubeVersion": server, "widgets": "false"}
    assert r["staging"]["commit"] == r["prod"]["commit"]

    assert not r["applied"].get("failed"), r["applied"].get("msg")
    assert r["applied"]["changed"] and sorted(r["applied"]["created"]) == sorted(objects)
    assert not r["again"].get("failed") and r["again"]["changed"] is False, r["again"]

    drift = r["drift"]
    assert drift["drift"] and not drift.get("failed"), drift.get("msg")
    [entry] = [o for o in drift["objects"] if o["status"] == "modified"]
    assert entry["ref"] == f"apps/Deployment {namespace}/web"
    assert entry["source"] == "charts/web/templates/deployment.yaml, document 1"
    [diff] = [d for d in entry["diffs"] if d["path"] == "spec.replicas"]
    assert (diff["desired"], diff["live"]) == (3, 5)


SECRET = "pw-" + uuid.uuid4().hex
TOKEN = "tk-" + uuid.uuid4().hex

HOOKS = """apiVersion: v1
kind: ConfigMap
metadata:
  name: before
  annotations: {helm.sh/hook: "pre-install,pre-upgrade", helm.sh/hook-weight: "-5"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: after
  annotations: {helm.sh/hook: post-install}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: on-delete
  annotations: {helm.sh/hook: pre-delete}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kept
  annotations: {helm.sh/resource-policy: keep}
"""


def test_what_would_not_render_from_the_commit_alone_is_refused_and_hooks_map_onto_waves(tmp_path, run_tasks):
    outside = tmp_path / "outside-values.yaml"
    outside.write_text("replicas: 9\n")
    secret = tmp_path / "outside-template.yaml"
    secret.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\n")
    repo = Repo(tmp_path)
    plain_cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata: {replicas: \"{{ .Values.replicas }}\"}\n"
    repo.write({
        "charts/plain/Chart.yaml": CHART % "plain", "charts/plain/values.yaml": "replicas: 1\n",
        "charts/plain/templates/cm.yaml": plain_cm,
        "charts/remote/Chart.yaml": (CHART % "remote" + "dependencies:\n  - name: redis\n    version: 19.0.0\n"
                                     "    repository: oci://registry.example.invalid/charts\n"),
        "charts/remote/templates/cm.yaml": plain_cm,
        "charts/lookup/Chart.yaml": CHART % "lookup",
        "charts/lookup/templates/secret.yaml": '{{- $db := lookup "v1" "Secret" .Release.Namespace "db" }}\n'
                                               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: copy}\n"
                                               "data: {password: {{ $db.data.password | quote }}}\n",
        "charts/hooks/Chart.yaml": CHART % "hooks", "charts/hooks/templates/hooks.yaml": HOOKS,
        "charts/escape/Chart.yaml": CHART % "escape",
        "notachart/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
        # a values schema whose errors quote the values: the secrets must not reach the message
        "charts/schema/Chart.yaml": CHART % "schema",
        "charts/schema/values.schema.json": '{"type": "object", "properties": {"password": {"pattern": "^[0-9]+$"}, '
                                            '"token": {"pattern": "^[0-9]+$"}}}',
        "charts/schema/templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"
                                               "stringData: {password: {{ .Values.password | quote }}}\n",
        "secrets/prod.yaml": f"password: {SECRET}\n",
        # lookup only in NOTES.txt, or in a branch the values leave disabled: rendered; reached: refused
        "charts/notes/Chart.yaml": CHART % "notes", "charts/notes/templates/cm.yaml": plain_cm,
        "charts/notes/templates/NOTES.txt": '{{ (lookup "v1" "Service" .Release.Namespace "x").spec }}\n',
        "charts/random/Chart.yaml": CHART % "random",
        "charts/random/templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: gen}\n"
                                               "stringData: {password: {{ randAlphaNum 16 | quote }}, user: admin}\n",
        **{f"charts/metrics-server/{p.relative_to(METRICS_SERVER)}": p.read_text()
           for p in METRICS_SERVER.rglob("*") if p.is_file() and p.name != "SOURCE.md"},
    })
    os.symlink(outside, repo.work / "clusters-link.yaml")
    os.makedirs(repo.work / "charts/escape/templates")
    os.symlink(secret, repo.work / "charts/escape/templates/cm.yaml")
    repo.commit({})
    base = {"repo": repo.url, "dest": str(tmp_path / "cache")}
    runs = [
        dict(base, path=["charts/plain"], helm={"values_files": ["../outside-values.yaml"]}),
        dict(base, path=["charts/plain"], helm={"values_files": ["clusters-link.yaml"]}),
        dict(base, path=["charts/remote"]),
        dict(base, path=["charts/lookup"]),
        dict(base, path=["charts/hooks"], helm={"release_namespace": "apps", "hooks": "refuse"}),
        dict(base, path=["charts/hooks"], helm={"release_namespace": "apps", "charts": [
            {"path": "charts/hooks", "hooks": "waves"}]}),
        dict(base, path=["charts/plain"], helm={"charts": [{"path": "charts/plian"}]}),
        dict(base, path=["notachart"], render="helm"),
        dict(base, path=["charts/escape"]),
        dict(base, path=["charts/plain"], helm={"release_name": "p", "release_values": {"replicas": 4}}),
        dict(base, path=["charts/plain"], helm={"binary": str(tmp_path / "no-helm-here")}),
        dict(base, path=["charts/schema"], helm={"values_files": ["secrets/prod.yaml"], "release_values": {"token": TOKEN}}),
        dict(base, path=["charts/notes"]),
        dict(base, path=["charts/metrics-server"], helm={"release_values": {"apiService": {"create": True}}}),
        dict(base, path=["charts/metrics-server"], helm={"release_values": {"tls": {"type": "helm"}}}),
        dict(base, path=["charts/metrics-server"], helm={"release_values": {"tls": {"type": "helm"}}, "lookup": "empty"}),
        dict(base, path=["charts/metrics-server"],
             helm={"release_values": {"tls": {"type": "helm"}}, "lookup": "empty", "random": "accept"}),
        dict(base, path=["charts/random"]),
        dict(base, path=["charts/random"], helm={"charts": [{"path": "charts/random", "random": "accept"}]}),
    ]
    r = run_tasks([("git_desired_state", params) for params in runs])

    def refused(result, *fragments):
        assert result.get("failed"), result
        for fragment in fragments:
            assert fragment in result["msg"], result["msg"]
        assert str(tmp_path) not in result["msg"] and "replicas: 9" not in result["msg"]

    refused(r[0], "chart charts/plain: values file '../outside-values.yaml' resolves outside the repository")
    refused(r[1], "chart charts/plain: values file 'clusters-link.yaml' resolves outside the repository")
    refused(r[2], "chart charts/remote: dependency 'redis' from oci://registry.example.invalid/charts is not "
                  "vendored in charts/remote/charts/", "helm dependency build")
    refused(r[3], "chart charts/lookup: charts/lookup/templates/secret.yaml line 1 calls lookup, which reads the live "
                  "cluster, and rendering reaches it", "helm.lookup=empty")
    refused(r[4], "chart charts/hooks: ConfigMap apps/before (charts/hooks/templates/hooks.yaml) is a Helm hook",
            "helm.hooks=helm (the default) runs hooks as helm upgrade does")
    waves = {s["ref"]: obj["metadata"]["annotations"] for obj, s in zip(r[5]["objects"], r[5]["sources"])}
    assert waves["ConfigMap apps/before"]["gitops.core/wave"] == "-1"
    assert waves["ConfigMap apps/after"]["gitops.core/wave"] == "1"
    assert waves["ConfigMap apps/kept"] == {"helm.sh/resource-policy": "keep", "gitops.core/prune": "disabled"}
    assert "ConfigMap apps/on-delete" not in waves
    assert r[5]["helm_hooks_left_out"] == [{"ref": "ConfigMap apps/on-delete",
                                            "file": "charts/hooks/templates/hooks.yaml", "hook": "pre-delete"}]
    refused(r[6], "helm.charts[0].path 'charts/plian' is not a chart rendered by this run (charts: charts/plain)")
    refused(r[7], "path 'notachart' has no Chart.yaml (render=helm needs a chart folder)")
    refused(r[8], "path 'charts/escape/templates/cm.yaml' resolves outside the repository")
    # render=auto finds the chart; inline values win over the chart's values.yaml.
    [obj] = r[9]["objects"]
    assert obj["metadata"] == {"name": "p", "namespace": "default"} and obj["data"] == {"replicas": "4"}
    assert r[9]["sources"] == [{"ref": "ConfigMap default/p", "file": "charts/plain/templates/cm.yaml", "document": 1}]
    assert r[10]["failed"] and r[10]["msg"].startswith("chart charts/plain needs helm 3 or 4: "), r[10]["msg"]
    assert r[10]["msg"].endswith("install it or set helm.binary"), r[10]["msg"]
    refused(r[11], "helm template charts/schema failed", "- at '/password': (hidden) does not match pattern",
            "- at '/token': (hidden)")
    assert SECRET not in r[11]["_stdout"] and TOKEN not in r[11]["_stdout"]
    # lookup: refused only where rendering reaches it (NOTES.txt never makes an object)
    assert [s["ref"] for s in r[12]["sources"]] == ["ConfigMap default/notes"], r[12].get("msg")
    kinds = sorted({o["kind"] for o in r[13]["objects"]})  # metrics-server 3.13.1's own values: no lookup reached
    assert "APIService" in kinds and "Deployment" in kinds and "Secret" not in kinds, r[13].get("msg")
    refused(r[14], "chart charts/metrics-server: charts/metrics-server/templates/apiservice.yaml line 6 calls lookup")
    # helm.lookup=empty renders as helm template does; genSelfSignedCert then makes a new certificate each render
    refused(r[15], "chart charts/metrics-server renders differently each time", "Secret default/metrics-server: "
            "data[tls.crt], data[tls.key]", "apiregistration.k8s.io/APIService v1beta1.metrics.k8s.io: spec.caBundle")
    assert "BEGIN" not in r[15]["msg"] and "LS0t" not in r[15]["msg"]  # no certificate, nor its base64
    assert "Secret" in {o["kind"] for o in r[16]["objects"]}  # accepted: rendered once, as it is
    refused(r[17], "chart charts/random renders differently each time", "Secret default/gen: stringData.password",
            "helm.random=accept")
    assert "stringData.user" not in r[17]["msg"]
    assert [s["ref"] for s in r[18]["sources"]] == ["Secret default/gen"]


def test_the_sync_and_drift_roles_render_a_chart_alike_with_the_clusters_capabilities(
        tmp_path, ansible_playbook, kubectl, namespace):
    repo = Repo(tmp_path)
    repo.commit({"charts/app/Chart.yaml": CHART % "app", "charts/app/values.yaml": "replicas: 1\ncolor: blue\n",
                 "charts/app/templates/deployment.yaml": DEPLOYMENT,
                 "charts/app/templates/capabilities.yaml": CAPABILITIES % {"group": "apps"},
                 "values/prod.yaml": "color: green\n"})
    set_name = "hr" + uuid.uuid4().hex[:10]
    helm = {"release_namespace": namespace, "values_files": ["values/prod.yaml"]}
    common = {"repo": repo.url, "set_name": set_name, "path": ["charts/app"], "helm": helm, "helm_from_cluster": True,
              "kubeconfig": "{{ kubeconfig }}"}
    book = roles_book(("sync", {**{f"sync_{k}": v for k, v in common.items()}, "sync_wait": False,
                                "sync_drift_check": False}),
                      ("drift", {f"drift_{k}": v for k, v in common.items()}))
    run = ansible_playbook(book)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "no drift (2 objects)" in run.stdout, run.stdout[-3000:]
    server = kubectl.json("version")["serverVersion"]["gitVersion"]
    caps = kubectl.json("-n", namespace, "get", "configmap", "app-capabilities")
    assert caps["data"] == {"kubeVersion": server, "widgets": "false"}
    env = kubectl.json("-n", namespace, "get", "deployment", "app")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "COLOR", "value": "green"}]
