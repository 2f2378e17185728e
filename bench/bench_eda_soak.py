"""Soak of the agent: the event source gitops.core.k8s_drift watching 10,000 objects of four kinds
while the API server is killed and restarted every two minutes and a hand edit lands every few
seconds.  Reports the agent's peak and final RSS, its thread count over time, and edits made against
events reported: each edit must be reported once (none lost, none twice), and nothing else reported.

The agent runs as the event source alone (`python k8s_drift.py SET`, which prints each event), the
same code ansible-rulebook runs; the rulebook engine's JVM is not part of what is measured.  Faults
are real: SIGKILL of the kube-apiserver process (tests/cluster/cluster.py kill/restart).  Nothing
here asserts a time; the figures go to docs/eda.md.

usage: python bench/bench_eda_soak.py   (repository root, .venv, `make cluster-up`)
env:   SOAK_OBJECTS (10000), SOAK_SECONDS (600), SOAK_KILL_EVERY (120), SOAK_EDIT_EVERY (3)
"""
import ast
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".collections"), str(ROOT / "tests" / "cluster")]
import cluster  # noqa: E402  (tests/cluster/cluster.py: kill and restart a component)
from ansible_collections.gitops.core.plugins.module_utils.cluster.kube import CONFIG_MAPS, connect  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.cluster.set_args import set_argument_spec  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.jobs import reconcile  # noqa: E402

OBJECTS = int(os.environ.get("SOAK_OBJECTS", "10000"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
KILL_EVERY = float(os.environ.get("SOAK_KILL_EVERY", "120"))
EDIT_EVERY = float(os.environ.get("SOAK_EDIT_EVERY", "3"))
KUBECONFIG = str(ROOT / ".cluster" / "kubeconfig")
SET = "soak"
NAMESPACES = ["soak-%d" % i for i in range(5)]
SOURCE = ROOT / "extensions" / "eda" / "plugins" / "event_source" / "k8s_drift.py"


def objects(n):
    """n objects over four kinds and five namespaces: 40% ConfigMaps, 30% Secrets, 20% ServiceAccounts,
    10% Deployments scaled to zero."""
    out = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in NAMESPACES]
    for i in range(n):
        ns, name, share = NAMESPACES[i % len(NAMESPACES)], "o%05d" % i, i % 10
        meta = {"name": name, "namespace": ns}
        if share < 4:
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"value": str(i)}})
        elif share < 7:
            out.append({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"k": "v%d" % i}})
        elif share < 9:
            out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
        else:
            out.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
                "replicas": 0, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {
                    "containers": [{"name": "c", "image": "registry.example/app:1"}]}}}})
    return out


def params(**extra):
    spec = set_argument_spec(prune=dict(default=True), force_conflicts=dict(default=True), wait=dict(default=False),
                             wait_timeout=dict(default=300), list_unchanged=dict(default=False))
    out = {name: opt.get("default") for name, opt in spec.items()}
    out.update(kubeconfig=KUBECONFIG, set_name=SET, parallelism=8, **extra)
    return out


def sync(objs):
    p = params()
    options = reconcile.Options.from_params(p, check_mode=False, diff=False)
    client = connect(p, p["parallelism"])
    try:
        return reconcile.run(client, options, objs)
    finally:
        client.close()


def proc_status(pid):
    fields = {}
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            key, _colon, value = line.partition(":")
            fields[key] = value.strip()
    except OSError:
        return None
    return int(fields["VmRSS"].split()[0]) / 1024.0, int(fields["Threads"])


class Agent:
    """The event source as a process; its events parsed from stdout with the time they arrived."""

    def __init__(self):
        env = dict(os.environ, KUBECONFIG=KUBECONFIG, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT / ".collections"))
        self.proc = subprocess.Popen([sys.executable, str(SOURCE), SET], stdout=subprocess.PIPE,
                                     stderr=open(ROOT / "bench" / "results" / "soak-agent.log", "w"), text=True,
                                     env=env)
        self.events = []
        self.started = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                event = ast.literal_eval(line.strip())["gitops"]
            except (ValueError, SyntaxError, KeyError, TypeError):
                continue
            self.events.append((time.monotonic(), event))
            if event.get("change") == "startup":
                self.started.set()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def main():
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    cleanup()
    for ns in NAMESPACES:  # a namespace still terminating from an earlier soak would refuse the objects
        while subprocess.run(["kubectl", "--kubeconfig", KUBECONFIG, "get", "namespace", ns], capture_output=True,
                             check=False).returncode == 0:
            time.sleep(2)
    objs = objects(OBJECTS)
    t0 = time.monotonic()
    first = sync(objs)
    print("setup: %d objects applied in %.0fs (%d created)" % (OBJECTS, time.monotonic() - t0, len(first["created"])),
          flush=True)
    configmaps = [o["metadata"] for o in objs if o["kind"] == "ConfigMap"]
    random.Random(7).shuffle(configmaps)

    agent = Agent()
    t0 = time.monotonic()
    while not agent.started.wait(1):
        if agent.proc.poll() is not None or time.monotonic() - t0 > 600:
            raise SystemExit("the agent sent no startup event (see bench/results/soak-agent.log)")
    ready = time.monotonic() - t0
    print("agent: listed and watching after %.1fs" % ready, flush=True)

    samples, edits, kills, stop = [], [], [], threading.Event()

    def sample():
        while not stop.is_set():
            got = proc_status(agent.proc.pid)
            if got:
                samples.append((time.monotonic(), got[0], got[1]))
            stop.wait(5)

    p = params()
    editor = connect(p, 1)

    def edit():
        """A hand edit every EDIT_EVERY seconds, each on a ConfigMap not edited before (retried while the
        API server is away); counted when the server accepted it."""
        index = 0
        while not stop.is_set() and index < len(configmaps):
            meta = configmaps[index]
            body = {"data": {"value": "edited-by-hand-%d" % index}}
            try:
                editor.request("PATCH", editor.path(CONFIG_MAPS, meta["namespace"], meta["name"]),
                               query={"fieldManager": "soak-editor"}, body=body,
                               content_type="application/merge-patch+json", verb="patch", what="hand edit")
            except Exception:  # the API server is down: the same edit again shortly
                stop.wait(0.5)
                continue
            edits.append((time.monotonic(), "%s/%s" % (meta["namespace"], meta["name"])))
            index += 1
            stop.wait(EDIT_EVERY)

    threads = [threading.Thread(target=f, daemon=True) for f in (sample, edit)]
    for t in threads:
        t.start()
    began = time.monotonic()
    next_kill = began + KILL_EVERY
    while time.monotonic() - began < SECONDS:
        time.sleep(1)
        if time.monotonic() >= next_kill:
            k0 = time.monotonic()
            cluster.kill("kube-apiserver")
            time.sleep(3)
            cluster.restart("kube-apiserver")
            kills.append((k0, time.monotonic() - k0))
            next_kill += KILL_EVERY
    stop.set()
    for t in threads:
        t.join(30)
    time.sleep(30)  # the last edits' debounce and re-check
    final = proc_status(agent.proc.pid)
    agent.stop()
    editor.close()

    edited = {name for _t, name in edits}
    reported = {}
    other = 0
    for _t, event in agent.events:
        ref = event.get("ref") or ""
        if event.get("change") != "modified" or not ref.startswith("ConfigMap "):
            other += event.get("change") not in ("startup",)
            continue
        name = ref.split(" ", 1)[1]
        reported[name] = reported.get(name, 0) + 1
    once = sum(1 for n in edited if reported.get(n) == 1)
    lost = sorted(n for n in edited if n not in reported)
    twice = sorted(n for n in edited if reported.get(n, 0) > 1)
    unexpected = sorted(n for n in reported if n not in edited)
    latencies = []
    for t_edit, name in edits:
        seen = [t for t, e in agent.events if (e.get("ref") or "").endswith(" " + name)]
        if seen:
            latencies.append(min(seen) - t_edit)
    rss = [s[1] for s in samples]
    threads_seen = [s[2] for s in samples]
    out = {
        "objects": OBJECTS, "seconds": SECONDS, "kills": len(kills),
        "apiserver_down_s": [round(d, 1) for _k, d in kills], "agent_ready_s": round(ready, 1),
        "edits": len(edits), "reported_once": once, "lost": lost, "reported_twice": twice,
        "reported_not_edited": unexpected, "other_events": other,
        "latency_s": {"median": round(sorted(latencies)[len(latencies) // 2], 2) if latencies else None,
                      "max": round(max(latencies), 2) if latencies else None},
        "rss_mib": {"peak": round(max(rss), 1) if rss else None, "final": round(final[0], 1) if final else None},
        "threads": {"min": min(threads_seen) if threads_seen else None, "max": max(threads_seen) if threads_seen else None,
                    "final": final[1] if final else None,
                    "over_time": [[round(t - began), n] for t, _r, n in samples[::12]]},
    }
    (ROOT / "bench" / "results" / "eda_soak.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    print("\n| objects | minutes | API server kills | edits | reported once | lost | twice | peak RSS MiB | final RSS "
          "MiB | threads (min-max, final) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print("| %d | %.0f | %d | %d | %d | %d | %d | %s | %s | %s-%s, %s |" % (
        OBJECTS, SECONDS / 60, len(kills), len(edits), once, len(lost), len(twice), out["rss_mib"]["peak"],
        out["rss_mib"]["final"], out["threads"]["min"], out["threads"]["max"], out["threads"]["final"]))
    cleanup()


def cleanup():
    """The soak's namespaces and its set's inventory and Lease, removed (not waited for)."""
    for args in (["delete", "namespace", "--wait=false", "--ignore-not-found", *NAMESPACES],
                 ["-n", "gitops-system", "delete", "configmap,lease", "--ignore-not-found", "gitops-set-" + SET]):
        subprocess.run(["kubectl", "--kubeconfig", KUBECONFIG, *args], capture_output=True, check=False)


if __name__ == "__main__":
    main()
