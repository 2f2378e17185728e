"""The agent: a real ansible-rulebook running the collection's rulebooks with the event source
gitops.core.k8s_drift, against a control plane of its own (the API server is killed under it).

One test, in order: a synced set; the drift rulebook (heal) up, its startup check done; `kubectl scale`
healed and a deleted ConfigMap recreated, each timed; a `kubectl scale` under a Lease a killed run left
healed within twice the Lease's duration plus a few seconds; a status-only write, gitops.core's own sync
of a new commit and its prune make no event; a Secret edited by hand makes an event naming the field,
never the value; the API server killed and restarted, the next drift still caught, and killed again: the
watches' backoff starts again at 1 s after a healthy watch; then the push rulebook: a webhook with a bad
HMAC refused (401, nothing runs), a signed one applies the pushed commit.

Not here: a 410 Gone.  The agent relists after every broken watch (so it never resumes from an old
resourceVersion after the API server's restart) and bookmarks keep the resourceVersion of a live watch
fresh; a real 410 would need the watch cache's window or etcd's compaction shortened, which this control
plane does not offer.  The unit tests (tests/unit/test_k8s_drift_source.py) cover the 410 path."""
from __future__ import annotations

import json
import socket
import time

import pytest
import yaml

from conftest import CALLBACK_ENV
from eda_harness import Rulebook, post_webhook, push_payload, wait_listening
from gitfixtures import Keys, Repo
from helpers import unique_name, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.xdist_group("second-control-plane-b")]

SECRET_VALUE, EDITED_VALUE, HOOK_SECRET = "eda-PLANTED-secret-1f9a", "eda-PLANTED-edited-77c2", "hook-PLANTED-6d0e"
STALE_LEASE_SECONDS = 5


def stale_lease(set_name: str) -> dict:
    """The set's Lease as a killed run leaves it: a holder, a duration, never renewed again."""
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": f"gitops-set-{set_name}", "namespace": "gitops-system"},
            "spec": {"holderIdentity": "killed-runner/pid-4242", "leaseDurationSeconds": STALE_LEASE_SECONDS,
                     "leaseTransitions": 0}}


def first_retry(output: str, what: str) -> str | None:
    """The first 'retrying in Ns' line the agent logged for watch `what` in `output`."""
    return next((line for line in output.splitlines()
                 if f"gitops.core.k8s_drift: {what}:" in line and "retrying in" in line), None)


def manifests(namespace: str, greeting: str, extra: bool = True) -> dict[str, str]:
    objs = {
        "app/deploy.yaml": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
                            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
                                "metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]}}}},
        "app/config.yaml": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": namespace},
                            "data": {"greeting": greeting}},
        "app/secret.yaml": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret", "namespace": namespace},
                            "stringData": {"password": SECRET_VALUE}},
    }
    if extra:
        objs["app/extra.yaml"] = {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "extra", "namespace": namespace}, "data": {"a": "1"}}
    return {path: yaml.safe_dump(obj) for path, obj in objs.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_agent_heals_live_drift_in_seconds_and_syncs_on_a_signed_push(second_cluster, ansible_playbook,
                                                                          tmp_path):
    cdir, kubectl, control = second_cluster
    kc = str(cdir / "kubeconfig")
    namespace = unique_name("eda-", 6)
    kubectl.run("create", "namespace", namespace)
    (tmp_path / "keys").mkdir()
    keys = Keys(tmp_path / "keys")
    (tmp_path / "allowed_signers").write_text(keys.allowed_signers)
    repo = Repo(tmp_path / "git", keys)
    first = repo.commit(manifests(namespace, "hello"), signer="bob")
    set_name = unique_name("eda", 6)
    common = {"set_name": set_name, "path": ["app"], "repo": repo.url, "verify": "head",
              "allowed_signers": str(tmp_path / "allowed_signers"), "kubeconfig": kc}
    role_vars = {f"{prefix}_{key}": value for prefix in ("drift", "sync") for key, value in common.items()}
    synced = ansible_playbook(_role_book("sync"), extra_vars=role_vars)
    assert synced.rc == 0, synced.stdout[-3000:]

    def replicas() -> int:  # polled every 0.2 s while the agent heals: a read through the client, no kubectl process
        return kubectl.get("deployment", "web", namespace)["spec"]["replicas"]

    drift = Rulebook("drift.yml", {"gitops_sets": [set_name], "gitops_kubeconfig": kc}, role_vars, tmp_path / "drift",
                     env=CALLBACK_ENV)
    try:
        wait_until(lambda: drift.alive() or drift.recaps() >= 1, 120, what="the startup drift check")
        assert drift.events() and "'change': 'startup'" in drift.events()[0], drift.output()[-3000:]

        # kubectl scale: healed, timed from the edit. Each step below waits for its heal run's end (runs counted
        # before its edit): a run still ending (its Lease already released, its last tasks running) would
        # otherwise count as the next step's run
        runs = drift.recaps()
        started = time.monotonic()
        kubectl.run("-n", namespace, "scale", "deployment", "web", "--replicas=5")
        wait_until(lambda: drift.alive() or replicas() == 2,
                   60, 0.2, what="the scaled Deployment healed")
        healed_scale = time.monotonic() - started
        scale_event = [e for e in drift.events() if "spec.replicas" in e]
        assert scale_event and "'change': 'modified'" in scale_event[0] and "kubectl" in scale_event[0]
        wait_until(lambda: drift.recaps() > runs, 60, what="the heal run's end")

        # kubectl delete of a ConfigMap of the set: recreated
        runs = drift.recaps()
        started = time.monotonic()
        kubectl.run("-n", namespace, "delete", "configmap", "web-config")
        wait_until(lambda: drift.alive() or kubectl.get("configmap", "web-config", namespace), 60, 0.2,
                   what="the ConfigMap back")
        healed_delete = time.monotonic() - started
        assert any("'change': 'deleted'" in e and "web-config" in e for e in drift.events())
        wait_until(lambda: drift.recaps() > runs, 60, what="the heal run's end")

        # a Lease a killed run left (held, never renewed): the agent waits its duration by its own clock, and its
        # events name that Lease's version (lease_expired), which the heal run takes over at once: healed within
        # the duration plus this machine's own heal time
        runs = drift.recaps()
        lease = stale_lease(set_name)
        kubectl.run("create", "-f", "-", input=json.dumps(lease))
        started = time.monotonic()
        kubectl.run("-n", namespace, "scale", "deployment", "web", "--replicas=4")
        wait_until(lambda: drift.alive() or replicas() == 2,
                   60, 0.2, what="the drift under a stale Lease healed")
        healed_stale = time.monotonic() - started
        # bounded by the Lease's duration plus this machine's own heal time (measured above, no Lease) and slack
        assert healed_stale < STALE_LEASE_SECONDS + healed_scale + 8, \
            f"healed in {healed_stale:.1f}s under a stale Lease ({healed_scale:.1f}s without)"
        wait_until(lambda: drift.recaps() > runs, 60, what="the heal run's end")
        assert kubectl.get("lease", lease["metadata"]["name"], "gitops-system") is None, \
            "the heal took the stale Lease over and released it"

        # nothing runs for a status-only write, for gitops.core's own sync of a new commit, nor for its prune
        quiet = len(drift.events())
        kubectl.run("-n", namespace, "patch", "deployment", "web", "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": {"observedGeneration": 99}}))
        repo.commit({**manifests(namespace, "hello again", extra=False), "app/extra.yaml": None}, signer="bob")
        resynced = ansible_playbook(_role_book("sync"), extra_vars=role_vars)
        assert resynced.rc == 0 and "pruned 1" in resynced.stdout, resynced.stdout[-3000:]
        time.sleep(6)  # three debounce windows
        assert len(drift.events()) == quiet, drift.events()[quiet:]

        # a Secret edited by hand: an event naming the field, never the value; healed
        runs = drift.recaps()
        kubectl.run("-n", namespace, "patch", "secret", "web-secret", "-p",
                    json.dumps({"stringData": {"password": EDITED_VALUE}}))
        wait_until(lambda: drift.alive() or any("web-secret" in e for e in drift.events()[quiet:]), 60,
                   what="the Secret's event")
        secret_event = [e for e in drift.events() if "web-secret" in e][0]
        assert "'fields': ['data.password']" in secret_event, secret_event
        wait_until(lambda: drift.recaps() > runs, 60, what="the heal run's end")

        # the API server killed and restarted under the watches: the next drift is still caught
        control("kill", "kube-apiserver")
        time.sleep(2)
        control("restart", "kube-apiserver")
        runs = drift.recaps()
        kubectl.run("-n", namespace, "scale", "deployment", "web", "--replicas=7")
        wait_until(lambda: drift.alive() or replicas() == 2,
                   120, 0.5, what="the drift after the API server's restart healed")
        wait_until(lambda: drift.recaps() > runs, 60, what="the heal run's end")

        # killed again: the Deployments' watch was healthy since (it delivered the heal's events), so its
        # backoff starts again at 1 s instead of where the first outage left it
        mark = len(drift.output())
        control("kill", "kube-apiserver")
        wait_until(lambda: first_retry(drift.output()[mark:], "watch deployments"), 30, 0.2,
                   what="the Deployments' watch to notice the second kill")
        control("restart", "kube-apiserver")
        retry = first_retry(drift.output()[mark:], "watch deployments")
        assert retry.endswith("retrying in 1s"), retry
    finally:
        drift.stop()
    out = drift.output()
    for value in (SECRET_VALUE, EDITED_VALUE):
        assert value not in out, "a Secret value in the rulebook's output"

    # the push rulebook: a bad HMAC is refused and runs nothing; a signed push applies the pushed commit
    port = free_port()
    push = Rulebook("push.yml", {"gitops_webhook_port": port, "gitops_webhook_secret": HOOK_SECRET,
                                 "gitops_repo_url": repo.url, "gitops_ref": "refs/heads/main"}, role_vars, tmp_path / "push",
                    env=CALLBACK_ENV)
    try:
        wait_listening(port, push)
        pushed = repo.commit(manifests(namespace, "pushed", extra=False), signer="bob")
        body = push_payload(repo.url, "refs/heads/main", pushed)
        assert post_webhook(port, body, "not-the-secret") == 401
        assert post_webhook(port, push_payload(repo.url, "refs/heads/other", pushed), HOOK_SECRET) == 200
        started = time.monotonic()
        assert post_webhook(port, body, HOOK_SECRET) == 200
        wait_until(lambda: push.alive() or kubectl.get("configmap", "web-config", namespace)["data"]
                   ["greeting"] == "pushed", 90, 0.2, what="the pushed commit applied")
        applied = time.monotonic() - started
        wait_until(lambda: push.recaps() >= 1, 60, what="the sync run's end")
        time.sleep(1)
        assert push.recaps() == 1, "only the signed push to the deploying branch ran the sync"
        assert f"at {pushed[:12]}" in push.output() and first != pushed
    finally:
        push.stop()
    print(f"\nEDA reaction: scale healed in {healed_scale:.1f}s, delete in {healed_delete:.1f}s, "
          f"under a stale {STALE_LEASE_SECONDS}s Lease in {healed_stale:.1f}s, webhook to applied in {applied:.1f}s")


def _role_book(role: str) -> str:
    return (f"- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles:\n"
            f"    - gitops.core.{role}\n")
