"""Benchmark: the agent's reaction times on 2 cores, everything included (the event source, the
rulebook engine, an ansible-playbook start-up per run): seconds from a live edit (`kubectl scale` of
a synced Deployment) to healed, and from a signed push webhook to the pushed commit applied.
Median (and fastest, slowest) of BENCH_REPEAT (default 5).  Anchors, as their projects publish
them: Argo CD's self-heal reacts to a live change within seconds of its watch (its default
self-heal timeout is 5 s between attempts); Flux corrects drift only on its interval (60 s at the
least, an hour recommended).  Nothing here asserts a time.

usage: python bench/bench_eda.py   (repository root, .venv, `make cluster-up`)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".collections"), str(ROOT / "tests" / "integration")]
os.environ["PATH"] = "%s%s%s%s%s" % (Path(sys.executable).parent, os.pathsep, ROOT / ".cluster" / "bin", os.pathsep,
                                     os.environ.get("PATH", ""))
from eda_harness import Rulebook, post_webhook, push_payload, wait_listening  # noqa: E402
from gitfixtures import Repo  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
KUBECONFIG = str(ROOT / ".cluster" / "kubeconfig")


def kubectl(*args):
    return subprocess.run(["kubectl", "--kubeconfig", KUBECONFIG, *args], capture_output=True, text=True, check=True).stdout


def wait(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit("timed out")


def files(namespace, greeting):
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
                  "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": namespace},
          "data": {"greeting": greeting}}
    return {"app/deploy.yaml": json.dumps(deploy), "app/config.json": json.dumps(cm)}


def replicas(namespace):
    return json.loads(kubectl("-n", namespace, "get", "deployment", "web", "-o", "json"))["spec"]["replicas"]


def greeting(namespace):
    return json.loads(kubectl("-n", namespace, "get", "configmap", "web-config", "-o", "json"))["data"]["greeting"]


def main():
    tmp = Path(tempfile.mkdtemp(prefix="bench-eda-"))
    tag = "%x" % (int(time.time()) % 0xFFFFF)
    namespace, set_name = "bench-eda-" + tag, "bencheda" + tag
    kubectl("create", "namespace", namespace)
    repo = Repo(tmp / "git")
    repo.commit(files(namespace, "v0"))
    role_vars = {f"{p}_{k}": v for p in ("drift", "sync") for k, v in
                 {"set_name": set_name, "path": ["app"], "repo": repo.url, "kubeconfig": KUBECONFIG}.items()}
    book = tmp / "sync.yml"
    book.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [gitops.core.sync]\n")
    subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-e", json.dumps(role_vars),
                    "-e", "ansible_python_interpreter=" + sys.executable, str(book)], check=True, capture_output=True,
                   env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections")))
    heal, applied = [], []
    drift = Rulebook("drift.yml", {"gitops_sets": [set_name], "gitops_kubeconfig": KUBECONFIG}, role_vars,
                     tmp / "drift", verbose=False)
    try:
        wait(lambda: drift.recaps() >= 1)
        for round_ in range(REPEAT):
            runs = drift.recaps()
            started = time.monotonic()
            kubectl("-n", namespace, "scale", "deployment", "web", "--replicas=%d" % (3 + round_))
            wait(lambda: replicas(namespace) == 2)
            heal.append(time.monotonic() - started)
            wait(lambda: drift.recaps() > runs)
    finally:
        drift.stop()
    port, secret = 5000 + int(tag, 16) % 1000, "bench-hook-secret"
    push = Rulebook("push.yml", {"gitops_webhook_port": port, "gitops_webhook_secret": secret,
                                 "gitops_repo_url": repo.url, "gitops_ref": "refs/heads/main"}, role_vars,
                    tmp / "push", verbose=False)
    try:
        wait_listening(port, push)
        for round_ in range(REPEAT):
            runs = push.recaps()
            sha = repo.commit(files(namespace, "v%d" % (round_ + 1)))
            started = time.monotonic()
            assert post_webhook(port, push_payload(repo.url, "refs/heads/main", sha), secret) == 200
            wait(lambda: greeting(namespace) == "v%d" % (round_ + 1))
            applied.append(time.monotonic() - started)
            wait(lambda: push.recaps() > runs)
    finally:
        push.stop()
    kubectl("delete", "namespace", namespace, "--wait=false")
    print("Event-Driven Ansible agent, 2 cores, median (fastest-slowest) of %d" % REPEAT)
    for name, values in (("kubectl scale -> healed", heal), ("signed push webhook -> applied", applied)):
        print("  %-34s %5.1f s (%.1f-%.1f)" % (name, statistics.median(values), min(values), max(values)))
    print("  anchors: Argo CD self-heal - seconds (watch-driven); Flux - its interval (>= 60 s, 1 h advised)")
    print(json.dumps({"heal": [round(v, 2) for v in heal], "applied": [round(v, 2) for v in applied]}))


if __name__ == "__main__":
    main()
