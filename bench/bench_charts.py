"""Benchmark: R releases (default 100) of the podinfo chart (tests/integration/charts/podinfo-6.14.1,
the chart of fluxcd/flux-benchmark) pulled from a real OCI registry (go-containerregistry's, behind TLS
and basic auth: tests/integration/chartservers.py), each its own set of one sets declaration, in one
ansible-playbook run (git_desired_state sets_file, then k8s_reconcile sets) - beside the Helm CLI
installing the same releases (`helm upgrade --install`, one process per release, as a job would loop
it), kubectl applying `helm template` of each (one apply of everything), and the floor (a one-task ping
playbook), in one run on the local control plane.

Rows: the first sync with an empty chart cache, the unchanged re-run (the charts from the cache: no
registry request; median of BENCH_REPEAT), and the re-run with the registry stopped.  Flux publishes
100 HelmReleases of podinfo in 26 s on 16 cores (fluxcd/flux-benchmark); this machine has 2.  Nothing
here asserts a time.

usage: python bench/bench_charts.py [R]    (repository root, .venv, `make cluster-up`)
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
import bench_reconcile as base  # noqa: E402  (the runner, kubectl and formatting)
from chartservers import CLUSTER_BIN, OCIRegistry, helm_env, package, tls  # noqa: E402
from gitfixtures import Repo  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
PODINFO = HERE.parent / "tests" / "integration" / "charts" / "podinfo-6.14.1"
PASSWORD = "bench-" + uuid.uuid4().hex


def declaration(count, namespace, registry, digest):
    sets = []
    for i in range(count):
        chart = {"repository": registry.url, "chart": "podinfo", "version": "6.14.1", "digest": digest,
                 "credentials": "registry", "release_name": "podinfo-%d" % i, "values_files": ["apps/values.yaml"]}
        sets.append({"name": "podinfo-%d" % i, "path": "apps", "namespace": namespace,
                     "helm": {"release_namespace": namespace, "charts": [chart]}})
    return json.dumps({"name": "bench-charts", "sets": sets}, indent=1)


def sync(work, git, credentials, cache):
    desired = {"repo": git.url, "dest": str(work / "git-cache"), "sets_file": "clusters/bench/sets.yaml",
               "credentials": credentials, "helm": {"cache_dir": str(cache), "binary": str(CLUSTER_BIN / "helm")}}
    book = work / ("sync-%d.yml" % time.monotonic_ns())
    book.write_text("""- hosts: localhost
  gather_facts: false
  tasks:
    - gitops.core.git_desired_state: %s
      register: desired
      no_log: true
    - gitops.core.k8s_reconcile:
        sets: "{{ desired.sets }}"
        declaration: "{{ desired.declaration }}"
        kubeconfig: %s
      register: r
    - ansible.builtin.debug:
        msg: "BENCH {{ {'duration': r.duration, 'api_requests': r.api_requests, 'cached': charts | selectattr('from_cache')
                       | list | length, 'requests': charts | map(attribute='requests') | sum} | to_json }}"
      vars:
        charts: "{{ desired.sets | map(attribute='charts') | flatten }}"
""" % (json.dumps(desired), base.KUBECONFIG))
    secs, proc, mem = base.playbook(book, base.ansible_env())
    line = next(ln for ln in proc.stdout.splitlines() if '"msg": "BENCH ' in ln)
    found = json.loads(json.loads(line.split('"msg": ', 1)[1])[len("BENCH "):])
    return {"wall": secs, "module": found["duration"], "requests": found["api_requests"], "mem": mem,
            "note": "%d charts from the cache, %d registry requests" % (found["cached"], found["requests"])}


def helm_cli(count, namespace, registry, certs, home):
    """`helm upgrade --install` of each release, one after the other (Helm's own way, at its best: no Ansible)."""
    t0 = time.perf_counter()
    for i in range(count):
        subprocess.run([str(CLUSTER_BIN / "helm"), "upgrade", "--install", "podinfo-%d" % i, "%s/podinfo" % registry.url,
                        "--version", "6.14.1", "--namespace", namespace, "--kubeconfig", str(base.KUBECONFIG),
                        "--ca-file", str(certs["ca"]), "--username", "puller", "--password", PASSWORD],
                       capture_output=True, check=True, env=helm_env(home))
    return {"wall": time.perf_counter() - t0}


def kubectl_apply(count, namespace, archive, home, work):
    """`helm template` of each release from the local archive, then one `kubectl apply --server-side` of all."""
    t0 = time.perf_counter()
    folder = work / ("kubectl-%d" % time.monotonic_ns())
    folder.mkdir()
    for i in range(count):
        out = subprocess.run([str(CLUSTER_BIN / "helm"), "template", "podinfo-%d" % i, str(archive), "--namespace",
                              namespace], capture_output=True, check=True, env=helm_env(home)).stdout
        (folder / ("podinfo-%d.yaml" % i)).write_bytes(out)
    applied = base.kubectl("apply", "--server-side", "--field-manager=bench", "-n", namespace, "-f", str(folder))
    return {"wall": time.perf_counter() - t0, "requests": applied["requests"]}


def median(measure):
    """The run with the median wall time of REPEAT runs, its own note kept."""
    runs = sorted((measure() for _attempt in range(REPEAT)), key=lambda r: r["wall"])
    m = runs[len(runs) // 2]
    if REPEAT > 1:
        m["note"] = ("%s; " % m["note"] if m.get("note") else "") + "median of %d" % REPEAT
    return m


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    if not base.KUBECONFIG.exists():
        raise SystemExit("no cluster: run `make cluster-up` first")
    subprocess.run([sys.executable, str(HERE.parent / "tests" / "cluster" / "cluster.py"), "nodes",
                    str(max(2, (3 * count + 200) // 110 + 1))], check=True)
    work = Path(tempfile.mkdtemp(prefix="bench-charts-"))
    home = work / "helm"
    certs = tls(work / "tls")
    (work / "registry").mkdir()
    registry = OCIRegistry(work / "registry", certs, "puller", PASSWORD)
    registry.start()
    try:
        archive = package(PODINFO, work / "built", home)
        digest = registry.push(archive, home)
        tag = str(int(time.time()))[-5:]
        spaces = {tool: "bc%s-%s" % (tool, tag) for tool in ("g", "h", "k")}
        for namespace in spaces.values():
            base.quiet_kubectl("create", "namespace", namespace)
        git = Repo(work)
        git.commit({"clusters/bench/sets.yaml": declaration(count, spaces["g"], registry, digest),
                    "apps/values.yaml": "replicaCount: 1\n"})
        credentials = {"registry": {"username": "puller", "password": PASSWORD, "ca_file": str(certs["ca"])}}
        cache = work / "chart-cache"
        rows = []

        def row(scenario, tool, m):
            rows.append((scenario, tool, m))
        row("first sync, empty chart cache", "gitops.core (sets declaration, one playbook)",
            sync(work, git, credentials, cache))
        before = registry.requests()
        row("no-op re-run", "gitops.core (sets declaration, one playbook)",
            median(lambda: sync(work, git, credentials, cache)))
        assert registry.requests() == before, "a re-run from the cache asked the registry"
        if base.ANCHORS:
            row("first sync", "helm upgrade --install, one per release", helm_cli(count, spaces["h"], registry, certs, home))
            row("re-run (a new revision of each)", "helm upgrade --install, one per release",
                helm_cli(count, spaces["h"], registry, certs, home))
            row("first sync", "helm template each + kubectl apply --server-side (all)",
                kubectl_apply(count, spaces["k"], archive, home, work))
            row("re-run", "helm template each + kubectl apply --server-side (all)",
                kubectl_apply(count, spaces["k"], archive, home, work))
        registry.stop()
        row("re-run, registry stopped", "gitops.core (sets declaration, one playbook)", sync(work, git, credentials, cache))
        row("floor", "ansible.builtin.ping (one task)", median(lambda: base.ping(work)))
        print("\n### %d releases of podinfo 6.14.1 from an OCI registry (TLS, basic auth)\n" % count)
        print("| scenario | tool | wall s | module s | peak RSS / PSS MiB | API requests | note |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for scenario, tool, m in rows:
            print("| %s | %s | %.2f | %s | %s | %s | %s |" % (
                scenario, tool, m["wall"], "%.2f" % m["module"] if "module" in m else "",
                "%d / %d" % m["mem"] if m.get("mem") else "", base.fmt_req(m.get("requests") or {}), m.get("note", "")))
        for namespace in spaces.values():
            base.quiet_kubectl("delete", "namespace", namespace, "--wait=false")
    finally:
        registry.stop()


if __name__ == "__main__":
    main()
