"""Benchmark: the no-op cost of a set run as a tenant (impersonating a ServiceAccount confined to its
namespaces by the gitops.core.tenant role: per-namespace LISTs) beside the same set run with
cluster-wide rights (one LIST per kind), at 1,000 objects over 20 namespaces, in one run.

Both sets hold the same mix as bench_reconcile.py (ConfigMaps, Secrets, Services, Deployments,
ServiceAccounts) without the Namespaces and custom resources a tenant may not own; each has its own
20 namespaces.  Rows: median (and fastest) of BENCH_REPEAT (default 5) one-task ansible-playbook
runs, the module's own `duration`, and the API requests.  Nothing here asserts a time.

usage: python bench/bench_tenant.py [N]    (repository root, .venv, `make cluster-up`)
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_reconcile as base  # noqa: E402  (the same objects, runner and formatting)

REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))


def objects(prefix, n):
    """bench_reconcile's mix over 20 namespaces, without Namespaces and custom resources."""
    return [o for o in base.objects_for(prefix, n) if o["kind"] not in ("Namespace", "Widget")]


def playbook(tasks):
    lines = ["- hosts: localhost", "  gather_facts: false", "  tasks:"]
    for index, (module, params) in enumerate(tasks):
        lines += ["    - gitops.core.%s: %s" % (module, json.dumps(params)), "      register: r%d" % index,
                  "    - ansible.builtin.debug:",
                  "        msg: \"BENCH {{ {'duration': r%d.duration | default(0), 'api_requests': r%d.api_requests "
                  "| default({}), 'failed': r%d.failed | default(false), 'msg': r%d.msg | default('')} | to_json }}\""
                  % (index, index, index, index)]
    return "\n".join(lines) + "\n"


def run(tasks, work):
    book = work / ("play-%d.yml" % time.monotonic_ns())
    book.write_text(playbook(tasks))
    secs, proc, _mem = base.playbook(book, base.ansible_env())
    found = [json.loads(json.loads(ln.split('"msg": ', 1)[1])[len("BENCH "):])
             for ln in proc.stdout.splitlines() if '"msg": "BENCH ' in ln]
    for r in found:
        if r["failed"]:
            sys.exit("a run failed: %s" % r["msg"])
    return secs, found


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    base.ensure_nodes(n)
    tag = "%x" % (int(time.time()) % 0xFFFFF)
    tenant, platform = "tn%s" % tag, "pf%s" % tag
    kc = str(base.KUBECONFIG)
    spaces = base.namespaces_for(tenant)
    for ns in spaces + base.namespaces_for(platform):
        base.quiet_kubectl("create", "namespace", ns)
    work = Path(tempfile.mkdtemp(prefix="bench-tenant-"))
    # the tenant: the bootstrap role, run with the admin credentials (namespaces exist already)
    boot = work / "boot.yml"
    boot.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: gitops.core.tenant\n"
                    "      vars: %s\n" % json.dumps({"tenant_name": tenant, "tenant_namespaces": spaces,
                                                     "tenant_create_namespaces": False, "tenant_kubeconfig": kc}))
    base.playbook(boot, base.ansible_env())
    as_tenant = {"kubeconfig": kc, "impersonate_user": "system:serviceaccount:%s:gitops-%s" % (spaces[0], tenant),
                 "inventory_namespace": spaces[0], "policy": {"namespaces": ["%s-*" % tenant]}}
    for prefix in (tenant, platform):
        base.write_dir(work / prefix, objects(prefix, n))
    sets = {
        "tenant (impersonated, per-namespace LISTs)": dict(as_tenant, set_name=tenant, src=str(work / tenant)),
        "cluster-wide credentials": {"kubeconfig": kc, "set_name": platform, "src": str(work / platform)},
    }
    for params in sets.values():  # first apply
        run([("k8s_reconcile", params)], work)
    rows = []
    for label, params in sets.items():
        walls, modules, requests = [], [], None
        for _attempt in range(REPEAT):
            secs, found = run([("k8s_reconcile", params)], work)
            walls.append(secs)
            modules.append(found[0]["duration"])
            requests = found[0]["api_requests"]
        walls.sort()
        modules.sort()
        rows.append((label, walls[len(walls) // 2], walls[0], modules[len(modules) // 2], requests))
    floor = sorted(base.ping(work)["wall"] for _attempt in range(REPEAT))[REPEAT // 2]
    print("\n### No-op re-run of %s objects over 20 namespaces: tenant vs cluster-wide\n" % format(n, ","))
    print("| identity | wall s (median) | wall s (fastest) | module s (median) | API requests |")
    print("| --- | --- | --- | --- | --- |")
    for label, wall, fastest, module, requests in rows:
        print("| %s | %.2f | %.2f | %.2f | %s |" % (label, wall, fastest, module, base.fmt_req(requests)))
    print("| ansible.builtin.ping (one task, the floor) | %.2f | | | - |" % floor)
    for ns in spaces + base.namespaces_for(platform):
        subprocess.Popen(["kubectl", "--kubeconfig", kc, "delete", "namespace", ns, "--wait=false"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
