"""Concurrent runs of one set, on the real control plane with real ansible-playbook processes: the
set's Lease (lease.py) makes the second run wait or fail naming the holder; a holder killed with
SIGKILL blocks the next run only until its lease expires; different sets never wait for each
other; check mode and read-only drift checks take no lock."""
from __future__ import annotations

import time

import pytest

from conftest import one_task_book as book
from helpers import cm, unique_name

pytestmark = pytest.mark.integration


def slow(name, ns, seconds):
    """A Deployment that is Available only `seconds` after its pod is ready: a run with wait: true
    holds its lock at least that long."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "minReadySeconds": seconds, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}}}


@pytest.fixture
def set_name():
    return unique_name("lock-", 8)


def lease(kubectl, set_name):
    return kubectl.get("lease", "gitops-set-" + set_name, "gitops-system")


def wait_for_holder(kubectl, set_name, running, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = lease(kubectl, set_name)
        if got and got["spec"].get("holderIdentity"):
            return got["spec"]["holderIdentity"]
        assert running.proc.poll() is None, running.wait().stdout
        time.sleep(0.2)
    raise AssertionError("no holder on the lease of %s after %ds" % (set_name, timeout))


def result(run):
    assert "r" in run.results, run.stdout + run.stderr
    return run.results["r"]


def test_two_runs_of_one_set_started_together_never_interleave(ansible_playbook, kubectl, namespace, set_name):
    """Both runs declare the same objects.  Without the lock both plan before either writes and both
    report `created`; with it, exactly one creates and the other waits, then finds nothing to do."""
    objects = [slow("web", namespace, 4)] + [cm("c%d" % i, namespace) for i in range(5)]
    params = {"set_name": set_name, "objects": objects, "wait": True, "wait_timeout": 120}
    runs = [ansible_playbook.start(book("k8s_reconcile", params)) for _run in range(2)]
    first, second = sorted((result(r.wait()) for r in runs), key=lambda r: r["lock"]["waited"])
    assert not first.get("failed") and not second.get("failed"), (first.get("msg"), second.get("msg"))
    assert len(first["created"]) == 6 and first["lock"]["waited"] < 2
    assert second["created"] == [] and second["updated"] == [] and second["unchanged"] == 6
    assert second["lock"]["waited"] >= 3, second["lock"]  # the first held it through its 4 s rollout
    assert first["lock"]["holder"] != second["lock"]["holder"]
    assert first["api_requests"]["lease"] >= 2 and second["api_requests"]["lease"] >= 3
    assert lease(kubectl, set_name) is None  # released (deleted) by the last run


def test_a_holder_killed_with_sigkill_blocks_the_next_run_only_until_its_lease_expires(
        ansible_playbook, kubectl, namespace, set_name):
    objects = [slow("web", namespace, 300), cm("a", namespace)]
    holder_run = ansible_playbook.start(book("k8s_reconcile", {
        "set_name": set_name, "objects": objects, "wait": True, "wait_timeout": 300, "lock_duration": 4}))
    holder = wait_for_holder(kubectl, set_name, holder_run)
    deadline = time.monotonic() + 60
    while kubectl.get("deployment", "web", namespace) is None:
        assert time.monotonic() < deadline and holder_run.proc.poll() is None  # applied: now in its wait
        time.sleep(0.2)
    holder_run.kill()
    assert lease(kubectl, set_name)["spec"]["holderIdentity"] == holder  # left behind by the dead run
    started = time.monotonic()
    nxt = result(ansible_playbook(book("k8s_reconcile", {"set_name": set_name, "objects": [cm("a", namespace)],
                                                         "allow_empty": False, "max_deletions": 1})))
    took = time.monotonic() - started
    assert not nxt.get("failed"), nxt.get("msg")
    assert nxt["lock"]["took_over_from"] == holder
    assert 4 <= nxt["lock"]["waited"] <= 30 and took < 60
    assert nxt["pruned"] == ["apps/Deployment %s/web" % namespace], nxt  # the dead run's leftover, pruned as a normal leaver
    assert lease(kubectl, set_name) is None


@pytest.mark.slow
def test_a_busy_set_blocks_only_itself_and_check_mode_and_read_only_checks_take_no_lock(
        ansible_playbook, kubectl, namespace, set_name):
    other = set_name + "-b"
    holder_run = ansible_playbook.start(book("k8s_reconcile", {
        "set_name": set_name, "objects": [slow("web", namespace, 300)], "wait": True, "wait_timeout": 300}))
    try:
        holder = wait_for_holder(kubectl, set_name, holder_run)
        # a second run of the busy set gives up after lock_timeout, naming the holder; it wrote nothing
        refused = result(ansible_playbook(book("k8s_reconcile", {
            "set_name": set_name, "objects": [slow("web", namespace, 300), cm("late", namespace)],
            "lock_timeout": 2})))
        assert refused["failed"]
        assert "is locked by another run" in refused["msg"] and holder in refused["msg"], refused["msg"]
        assert "lock_timeout" in refused["msg"]
        assert kubectl.run("-n", namespace, "get", "configmap", "late", check=False).returncode != 0
        # check mode and a drift check without remediate read and answer at once, with no lock
        for module, params, check in (("k8s_reconcile", {}, True), ("drift_check", {"fail_on_drift": False}, False)):
            started = time.monotonic()
            r = result(ansible_playbook(book(module, dict(params, set_name=set_name, lock_timeout=0,
                                                          objects=[slow("web", namespace, 300)])), check=check))
            assert not r.get("failed"), r.get("msg")
            assert "lock" not in r and "lease" not in r["api_requests"]
            assert time.monotonic() - started < 30
        # another set is not blocked at all
        free = result(ansible_playbook(book("k8s_reconcile", {"set_name": other, "objects": [cm("free", namespace)]})))
        assert not free.get("failed"), free.get("msg")
        assert free["lock"]["waited"] < 1 and free["created"] == ["ConfigMap %s/free" % namespace]
        assert holder_run.proc.poll() is None  # the busy set's run is still going
    finally:
        holder_run.kill()
