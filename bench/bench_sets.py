"""Benchmark: many sets in one run (k8s_reconcile's `sets`) beside the same sets as one task each
(today's way without a declaration, at its best: one playbook holding every task), kubectl and
kubernetes.core applying every object in one command, and the floor (a one-task ping playbook), in
one run on the local control plane.

S sets (default 200) of 5 ConfigMaps each in one namespace.  Rows: the first sync and the unchanged
re-run (median of BENCH_REPEAT, default 3): wall seconds of the whole command, the module's own
`duration`, and the API requests by verb, which for `sets` do not grow with S on an unchanged re-run
(one LIST per kind and per inventory namespace; no write, not even a Lease).  Nothing here asserts
a time.

usage: python bench/bench_sets.py [S ...]    (repository root, .venv, `make cluster-up`)
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_reconcile as base  # noqa: E402  (the runner, kubectl, kubernetes.core and formatting)

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
PER_SET = 5


def sets_for(prefix, count, namespace):
    return [{"name": "%s-%d" % (prefix, i), "objects": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "%s-%d-%d" % (prefix, i, j), "namespace": namespace},
         "data": {"k": "v%d" % j}} for j in range(PER_SET)]} for i in range(count)]


def book(tasks):
    lines = ["- hosts: localhost", "  gather_facts: false", "  tasks:"]
    for index, params in enumerate(tasks):
        lines += ["    - gitops.core.k8s_reconcile: %s" % json.dumps(params), "      register: r%d" % index]
    lines += ["    - ansible.builtin.debug:",
              "        msg: \"BENCH {{ [%s] | to_json }}\"" % ", ".join(
                  "{'duration': r%d.duration, 'api_requests': r%d.api_requests}" % (i, i) for i in range(len(tasks)))]
    return "\n".join(lines) + "\n"


def run(tasks, work):
    path = work / ("play-%d.yml" % time.monotonic_ns())
    path.write_text(book(tasks))
    secs, proc, mem = base.playbook(path, base.ansible_env())
    line = next(ln for ln in proc.stdout.splitlines() if '"msg": "BENCH ' in ln)
    found = json.loads(json.loads(line.split('"msg": ', 1)[1])[len("BENCH "):])
    requests = {}
    for r in found:
        for verb, n in r["api_requests"].items():
            requests[verb] = requests.get(verb, 0) + n
    return {"wall": secs, "module": sum(r["duration"] for r in found), "requests": requests, "mem": mem}


def one_task(sets, work):
    return run([{"sets": sets, "kubeconfig": str(base.KUBECONFIG)}], work)


def task_per_set(sets, work):
    return run([{"set_name": s["name"], "objects": s["objects"], "kubeconfig": str(base.KUBECONFIG)} for s in sets], work)


def bench(count, work, tag):
    rows = []

    def row(scenario, tool, m):
        rows.append({"scenario": scenario, "tool": tool, "wall_s": round(m["wall"], 2),
                     "module_s": round(m["module"], 2) if "module" in m else None, "requests": m.get("requests") or {},
                     "rss_mib": round(m["mem"][0]) if m.get("mem") else None,
                     "pss_mib": round(m["mem"][1]) if m.get("mem") else None, "note": m.get("note", "")})

    spaces = {}
    for tool in ("s", "t", "k", "c"):
        spaces[tool] = "bs%s-%s-%d" % (tool, tag, count)
        base.quiet_kubectl("create", "namespace", spaces[tool])
    ours = sets_for("s%s" % tag, count, spaces["s"])
    theirs = sets_for("t%s" % tag, count, spaces["t"])
    row("first sync", "gitops.core k8s_reconcile sets: (one task)", one_task(ours, work))
    row("no-op re-run", "gitops.core k8s_reconcile sets: (one task)", base.median_of(lambda: one_task(ours, work), REPEAT))
    row("first sync", "gitops.core k8s_reconcile, a task per set (one playbook)", task_per_set(theirs, work))
    row("no-op re-run", "gitops.core k8s_reconcile, a task per set (one playbook)",
        base.median_of(lambda: task_per_set(theirs, work), REPEAT))
    if base.ANCHORS:
        for tool, namespace in (("kubectl", spaces["k"]), ("kcore", spaces["c"])):
            folder = work / ("%s-%d" % (tool, count))
            folder.mkdir()
            base.write_dir(folder, [o for s in sets_for("%s%s" % (tool[0], tag), count, namespace) for o in s["objects"]])
            if tool == "kubectl":
                apply = ("apply", "--server-side", "--field-manager=bench", "-f", str(folder))
                row("first sync", "kubectl apply --server-side (every object)", base.kubectl(*apply))
                row("no-op re-run", "kubectl apply --server-side (every object)",
                    base.median_of(lambda: base.kubectl(*apply), REPEAT))
            else:
                row("first sync", "kubernetes.core.k8s src: (every object)", base.kubernetes_core(folder, work))
                row("no-op re-run", "kubernetes.core.k8s src: (every object)",
                    base.median_of(lambda: base.kubernetes_core(folder, work), REPEAT))
    row("floor", "ansible.builtin.ping (one task)", base.median_of(lambda: base.ping(work), REPEAT))
    for namespace in spaces.values():
        base.quiet_kubectl("delete", "namespace", namespace, "--wait=false")
    return rows


def main():
    counts = [int(a) for a in sys.argv[1:]] or [200]
    if not base.KUBECONFIG.exists():
        raise SystemExit("no cluster: run `make cluster-up` first")
    work = Path(tempfile.mkdtemp(prefix="bench-sets-"))
    tag = str(int(time.time()))[-5:]
    for count in counts:
        rows = bench(count, work, tag)
        print("\n### %d sets of %d ConfigMaps (%s objects), one namespace\n" % (count, PER_SET, format(count * PER_SET, ",")))
        print("| scenario | tool | wall s | module s | peak RSS / PSS MiB | API requests |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print("| %s | %s | %.2f | %s | %s | %s |" % (
                r["scenario"], r["tool"], r["wall_s"], "" if r["module_s"] is None else "%.2f" % r["module_s"],
                "" if r["rss_mib"] is None else "%d / %d" % (r["rss_mib"], r["pss_mib"]), base.fmt_req(r["requests"])))


if __name__ == "__main__":
    main()
