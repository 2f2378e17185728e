"""Benchmark: rendering a Helm chart of 200 objects from Git.

Rows, each the median and the fastest of BENCH_REPEAT runs (default 5; BENCH_SHORT=1: 1); an
ansible-playbook run here varies by a second between identical runs while the control plane is busy,
so the fastest run is printed beside the median:
  - `helm template` alone on the chart (the floor: what Helm itself costs, empty Helm home);
  - git_desired_state's code in-process (module_utils), an unchanged re-run: resolve the ref, check
    the commit out, refuse what must be refused, render, split, attribute and validate the objects;
  - the same as one ansible-playbook task;
  - kubernetes.core.helm_template as one ansible-playbook task on the same chart folder (the anchor:
    it renders and returns the text, without checks or parsed objects);
  - a one-task ansible.builtin.ping playbook (Ansible's own floor).

usage: python bench/bench_helm.py   (from the repository root, in .venv; helm from .cluster/bin or PATH)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".collections"), str(ROOT / "tests" / "integration"), str(ROOT / "bench")]
os.environ["PATH"] = "%s%s%s" % (ROOT / ".cluster" / "bin", os.pathsep, os.environ.get("PATH", ""))
from ansible_collections.gitops.core.plugins.module_utils.source import helm  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.source.desired_state import fetch_desired_state  # noqa: E402
from bench_reconcile import ansible_env, kubernetes_core_collection, playbook  # noqa: E402
from local_runner import local_runner  # noqa: E402

SHORT = os.environ.get("BENCH_SHORT", "") not in ("", "0")
REPEAT = int(os.environ.get("BENCH_REPEAT", "1" if SHORT else "5"))
ANCHORS = os.environ.get("BENCH_ANCHORS", "1") not in ("", "0")
ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
       "GIT_COMMITTER_EMAIL": "b@x", "GIT_CONFIG_NOSYSTEM": "1"}
OBJECTS = 200  # 80 ConfigMaps, 60 Deployments, 60 Services

TEMPLATES = {
    "configmaps.yaml": """{{- range $i := until (int .Values.configmaps) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $.Release.Name }}-cm-{{ $i }}
  labels: {{- include "bench.labels" $ | nindent 4 }}
data:
  index: {{ $i | quote }}
  settings.yaml: |
    level: {{ $.Values.level }}
    replicas: {{ $.Values.replicas }}
{{- end }}
""",
    "deployments.yaml": """{{- range $i := until (int .Values.apps) }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $.Release.Name }}-app-{{ $i }}
  labels: {{- include "bench.labels" $ | nindent 4 }}
spec:
  replicas: {{ $.Values.replicas }}
  selector: {matchLabels: {app: {{ $.Release.Name }}-app-{{ $i }}}}
  template:
    metadata: {labels: {app: {{ $.Release.Name }}-app-{{ $i }}}}
    spec:
      containers:
        - name: app
          image: {{ $.Values.image }}
          ports: [{containerPort: 8080}]
          resources: {{- toYaml $.Values.resources | nindent 12 }}
{{- end }}
""",
    "services.yaml": """{{- range $i := until (int .Values.apps) }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $.Release.Name }}-app-{{ $i }}
  labels: {{- include "bench.labels" $ | nindent 4 }}
spec:
  selector: {app: {{ $.Release.Name }}-app-{{ $i }}}
  ports: [{port: 80, targetPort: 8080}]
{{- end }}
""",
    "_helpers.tpl": """{{- define "bench.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
""",
}
VALUES = """configmaps: 80
apps: 60
replicas: 2
level: info
image: registry.invalid/app:1.0
resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}
"""


def sh(*args, cwd=None):
    subprocess.run(args, cwd=cwd, env=ENV, check=True, capture_output=True)


def median(fn):
    """(median, fastest) seconds of REPEAT runs."""
    times = []
    for _attempt in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def book(tmp, name, task):
    path = tmp / ("%s.yml" % name)
    path.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - %s\n" % task)
    return path


def main():
    binary = shutil.which("helm")
    if not binary:
        raise SystemExit("helm is not on PATH: run `make cluster-up` (it links .cluster/bin/helm)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-helm-"))
    work, bare = tmp / "work", tmp / "repo.git"
    chart = work / "charts" / "bench"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bench\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text(VALUES)
    for name, text in TEMPLATES.items():
        (chart / "templates" / name).write_text(text)
    sh("git", "init", "-q", "-b", "main", str(work))
    sh("git", "add", "-A", cwd=work)
    sh("git", "commit", "-q", "-m", "chart", cwd=work)
    sh("git", "clone", "-q", "--bare", str(work), str(bare))

    params = {"repo": str(bare), "dest": str(tmp / "cache"), "path": ["charts/bench"], "render": "helm",
              "helm": {"release_name": "bench", "release_namespace": "bench"}}
    first = fetch_desired_state(params, local_runner)  # the first fetch is git's, not rendering's
    if first["object_count"] != OBJECTS:
        raise SystemExit("the chart rendered %d objects, expected %d" % (first["object_count"], OBJECTS))
    home = tempfile.mkdtemp(prefix="bench-helm-home-")
    template = [binary, "template", "bench", str(chart), "--namespace", "bench", "--skip-tests", "--include-crds"]
    rows = [("helm template alone (the floor)",
             median(lambda: subprocess.run(template, env={**os.environ, **helm.helm_env(home)},
                                           check=True, capture_output=True)))]
    rows.append(("git_desired_state, module_utils (unchanged re-run)",
                 median(lambda: fetch_desired_state(params, local_runner))))
    task = "gitops.core.git_desired_state: %s" % json.dumps(dict(params, dest=str(tmp / "cache-pb")))
    ours = book(tmp, "ours", task)
    playbook(ours, ansible_env())  # its first fetch
    rows.append(("git_desired_state, ansible-playbook (unchanged re-run)",
                 median(lambda: playbook(ours, ansible_env()))))
    if ANCHORS:
        kcore = book(tmp, "kcore", "kubernetes.core.helm_template: %s" % json.dumps(
            {"chart_ref": str(chart), "release_name": "bench", "release_namespace": "bench", "include_crds": True,
             "binary_path": binary}))
        env = ansible_env([kubernetes_core_collection()])
        rows.append(("kubernetes.core.helm_template, ansible-playbook", median(lambda: playbook(kcore, env))))
    ping = book(tmp, "ping", "ansible.builtin.ping:")
    rows.append(("ansible.builtin.ping, ansible-playbook (Ansible's floor)", median(lambda: playbook(ping, ansible_env()))))

    version = subprocess.run([binary, "version", "--short"], capture_output=True, text=True, check=True).stdout.strip()
    print("Helm chart rendering, %d objects (3 templates), helm %s, %d runs each" % (OBJECTS, version, REPEAT))
    print("  %-58s %9s %9s" % ("", "median", "fastest"))
    for name, (mid, fast) in rows:
        print("  %-58s %6.0f ms %6.0f ms" % (name, mid * 1000, fast * 1000))
    print(json.dumps({name: [round(mid, 3), round(fast, 3)] for name, (mid, fast) in rows}))
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
