"""The event source k8s_drift (the agent), on plain data with a clock the test moves: its arguments and
defaults (the modules' own), the debounce, the wait while a set's Lease is held (a Lease a killed run
left expires after its duration by the agent's own clock), relists page by page, the backoff of its
watch loops (410 Gone relists at once), which kinds it watches, and its clients."""
from __future__ import annotations

import asyncio
import json
import logging
import runpy
import threading
from pathlib import Path

import pytest
import yaml

from ansible_collections.gitops.core.plugins.module_utils.cluster import kube, kubeconfig
from ansible_collections.gitops.core.plugins.module_utils.cluster.set_args import set_argument_spec
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import FIELD_MANAGER
from ansible_collections.gitops.core.plugins.module_utils.engine.lease import Expiry
from ansible_collections.gitops.core.plugins.module_utils.observe import live_drift

SOURCE = Path(__file__).resolve().parents[2] / "extensions" / "eda" / "plugins" / "event_source" / "k8s_drift.py"
SRC = runpy.run_path(str(SOURCE))
MANAGER = "gitops-core"
DEPLOYMENTS = kube.Resource("apps", "v1", "Deployment", "deployments", True, ())
CLUSTER_ROLES = kube.Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, ())
GONE = kube.ApiError(410, {"message": "too old resource version: 5 (900)"}, "watch deployments")


class Clock:
    """The agent's monotonic clock, moved by the test and by the agent's own (fake) sleeps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    async def async_sleep(self, seconds):
        self.now += seconds


class Timer:
    def __init__(self, when, fn, args):
        self.when, self.fn, self.args, self.cancelled = when, fn, args, False

    def cancel(self):
        self.cancelled = True


class FakeLoop:
    """The event loop's timers on a clock the test moves: call_soon_threadsafe runs at once,
    call_later waits for advance(), create_task keeps the set's check without running it."""

    def __init__(self):
        self.now, self.timers, self.tasks = 0.0, [], []

    def call_soon_threadsafe(self, fn, *args):
        fn(*args)

    def call_later(self, delay, fn, *args):
        timer = Timer(self.now + delay, fn, args)
        self.timers.append(timer)
        return timer

    def create_task(self, coro):
        self.tasks.append(coro.cr_code.co_name)
        coro.close()
        return object()

    def advance(self, seconds):
        self.now += seconds
        for timer in sorted(self.timers, key=lambda t: t.when):
            if timer.when <= self.now and not timer.cancelled:
                timer.cancelled = True
                timer.fn(*timer.args)


class Queue(list):
    async def put(self, event):
        self.append(event)


def agent(loop=None, **args):
    made = SRC["Agent"](dict({"sets": ["prod"]}, **args), Queue(), loop or FakeLoop())
    made._start_watch = lambda what, body, stop, name: made.started.append((name, stop))
    made.started = []
    return made


def ref(name="web", namespace="app"):
    return ObjectRef("apps", "v1", "Deployment", namespace, name)


def change(name="web", fields=("spec.replicas",), kind="modified"):
    return live_drift.Change("prod", ref(name), kind, ["kubectl"], list(fields))


def deployment(name, namespace="app"):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {"gitops.core/set": "prod"},
                         "managedFields": [{"manager": MANAGER, "operation": "Apply", "time": "2026-01-01T00:00:00Z",
                                            "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 2}}


def lease(rv, holder="runner-7/pid-41", duration=5):
    return {"metadata": {"name": "gitops-set-prod", "resourceVersion": str(rv)},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration}}


# ---------------------------------------------------------------------- arguments and defaults

def test_cluster_options_fall_back_to_k8s_auth_variables(monkeypatch):
    source = runpy.run_path(str(SOURCE))
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", "/from/env")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "no")
    params = source["auth_params"]({"kubeconfig": "", "context": "prod", "impersonate_groups": "a, b"})
    assert params["kubeconfig"] == "/from/env" and params["context"] == "prod"
    assert params["validate_certs"] is False and params["impersonate_groups"] == ["a", "b"]
    assert source["auth_params"]({"kubeconfig": "/given"})["kubeconfig"] == "/given"
    assert "gitops-core" in source["DOCUMENTATION"] and source["main"].__doc__


def test_the_defaults_are_the_modules_own_and_documented_as_such():
    spec = set_argument_spec()
    made = agent(api_retries="")
    assert (made.inventory_namespace, made.manager, made.params["api_retries"]) == (
        spec["inventory_namespace"]["default"], FIELD_MANAGER, spec["api_retries"]["default"])
    documented = yaml.safe_load(SRC["DOCUMENTATION"])["options"]
    for name in ("inventory_namespace", "field_manager", "api_retries"):
        assert documented[name]["default"] == spec[name]["default"], name
    with pytest.raises(GitOpsError, match="api_retries"):
        agent(api_retries=-1)


# ---------------------------------------------------------------------- debounce

def test_a_burst_of_edits_of_one_object_is_one_change_after_the_debounce():
    loop = FakeLoop()
    made = agent(loop)
    made._emit(change(fields=["spec.replicas"]))
    loop.advance(0.6)
    made._emit(change(fields=["spec.template.spec.containers[name=web].image"]))
    loop.advance(0.9)  # 1.5 s after the first edit, 0.9 s after the last: still gathering
    assert made.batches == {} and list(made.pending) == [ref().key]
    loop.advance(0.2)
    assert made.pending == {}
    [merged] = made.batches["prod"].values()
    assert merged.fields == ["spec.replicas", "spec.template.spec.containers[name=web].image"]


def test_the_changes_of_one_set_wait_in_one_batch_checked_by_one_task():
    loop = FakeLoop()
    made = agent(loop)
    for name in ("web", "api", "worker"):
        made._emit(change(name))
    loop.advance(1.0)
    assert sorted(k[3] for k in made.batches["prod"]) == ["api", "web", "worker"]
    assert loop.tasks == ["_check"]


def test_shutdown_cancels_the_pending_debounce_timers():
    loop = FakeLoop()
    made = agent(loop)
    made._emit(change())
    made._shutdown()
    assert made.pending == {} and all(t.cancelled for t in loop.timers)
    loop.advance(5)
    assert made.batches == {}
    made._emit(change("late"))  # a watch thread still running after shutdown emits nothing
    assert made.pending == {}


# ---------------------------------------------------------------------- the Lease

def test_expiry_judges_by_the_waiters_clock_from_the_first_sight_of_a_resource_version():
    expiry = Expiry()
    assert expiry.held("7", "runner/pid-1", 5, now=100.0)       # first seen now: a fresh holder
    assert expiry.held("7", "runner/pid-1", 5, now=104.9)
    assert not expiry.held("7", "runner/pid-1", 5, now=105.0)   # unchanged for its duration: expired
    assert expiry.expired("7", "runner/pid-1", 5, now=105.0)
    assert expiry.held("8", "runner/pid-1", 5, now=106.0)       # renewed: held again, counted afresh
    assert not expiry.held("9", None, 5, now=106.0) and not expiry.expired("9", None, 5, now=200.0)  # free


def wait_for_lease(made, clock, lease_at):
    """Run one Lease wait of set prod with the Lease as `lease_at(now)` answers it; (reads, seconds waited)."""
    reads = []
    made._monotonic, made._async_sleep = clock, clock.async_sleep

    def read(set_name):
        reads.append(clock.now)
        return lease_at(clock.now)
    made._read_lease = read
    started = clock.now
    made.expired = asyncio.run(made._lease_wait("prod"))
    return reads, clock.now - started


def test_a_lease_a_killed_run_left_holds_the_events_only_for_its_duration():
    clock, made = Clock(), agent()
    reads, waited = wait_for_lease(made, clock, lambda now: lease(41, duration=5))
    assert 5.0 <= waited <= 5.0 + SRC["LEASE_POLL"]
    # the version judged expired goes with the events, so the heal run takes it over without a second wait
    assert made.expired == "41"
    assert live_drift.event(live_drift.Change("prod", None, "modified", [], []), made.expired)["gitops"][
        "lease_expired"] == "41"
    # judged once per set: the next changes of the set do not wait for it again
    reads, waited = wait_for_lease(made, clock, lambda now: lease(41, duration=5))
    assert (len(reads), waited) == (1, 0)


def test_a_free_or_renewed_lease_names_no_expired_version():
    clock, made = Clock(), agent()
    wait_for_lease(made, clock, lambda now: None)
    assert made.expired is None
    wait_for_lease(made, clock, lambda now: lease(int(now // 2), duration=5) if now < 8 else None)
    assert made.expired is None


def test_a_version_judged_expired_elsewhere_is_taken_over_at_once_and_only_that_version():
    """lock_expired_version: the heal run trusts the agent's judgement of that exact record."""
    expiry = Expiry("41")
    assert expiry.expired("41", "runner/pid-1", 60, now=0.0)       # no second wait
    assert not expiry.expired("42", "runner/pid-1", 60, now=1.0)   # renewed since: a live holder, waited for
    assert not Expiry("41").expired("41", None, 60, now=0.0)      # free: simply free


def test_a_lease_renewed_by_a_live_run_holds_the_events_until_it_is_released():
    clock, made = Clock(), agent()

    def renewed_every_2s_released_at_20s(now):
        return lease(int(now // 2), duration=5) if now < 20 else None
    reads, waited = wait_for_lease(made, clock, renewed_every_2s_released_at_20s)
    assert 20.0 <= waited <= 20.0 + SRC["LEASE_POLL"]


def test_a_lease_renewed_for_ever_holds_the_events_at_most_lease_wait():
    clock, made = Clock(), agent()
    reads, waited = wait_for_lease(made, clock, lambda now: lease(int(now), duration=5))
    assert SRC["LEASE_WAIT"] <= waited <= SRC["LEASE_WAIT"] + SRC["LEASE_POLL"]


def test_a_free_or_absent_lease_does_not_wait():
    clock, made = Clock(), agent()
    assert wait_for_lease(made, clock, lambda now: None) == ([0.0], 0)
    assert wait_for_lease(made, clock, lambda now: lease(3, holder=None)) == ([0.0], 0)


def test_a_set_waits_once_for_every_change_even_those_that_come_while_it_waits():
    clock, waits = Clock(), []

    async def scenario():
        made = agent(asyncio.get_running_loop())
        made._monotonic = clock
        made._read_lease = lambda set_name: lease(1, duration=3)  # a killed run's: expires after 3 s
        made._recheck = lambda set_name, changes: changes

        async def sleep(seconds):
            if not waits:  # an edit of another object while the set waits joins the same batch
                made.pending[ref("late").key] = (change("late"), None)
                made._flush(ref("late").key)
            waits.append(seconds)
            clock.now += seconds
            await asyncio.sleep(0)
        made._async_sleep = sleep
        for name in ("web", "api"):
            made.pending[ref(name).key] = (change(name), None)
            made._flush(ref(name).key)
        while made.checking:
            await asyncio.sleep(0.01)
        return made

    made = asyncio.run(scenario())
    assert sorted(e["gitops"]["object"]["name"] for e in made.queue) == ["api", "late", "web"]
    assert len(waits) == 3 / SRC["LEASE_POLL"]  # one wait of 3 s for the set, not one per object


# ---------------------------------------------------------------------- relists

class Answers:
    """A client's answers as plain data: the pages of one list, then the events of the watch after it."""

    def __init__(self, pages, events=(), on_page=None):
        self.pages, self.events, self.on_page, self.watched_from = pages, list(events), on_page, None

    def pages_for_watch(self, res, namespace, selector):
        for number, page in enumerate(self.pages):
            if self.on_page:
                self.on_page(number)
            yield page, "500"

    def watch_collection(self, res, namespace, selector, version, seconds, stop):
        self.watched_from = version
        yield from self.events


def test_a_relist_is_read_and_processed_page_by_page():
    made = agent()
    seen_before_page = []
    pages = [[deployment("d%d" % i) for i in range(3)], [deployment("d%d" % i) for i in range(3, 5)]]
    answers = Answers(pages, on_page=lambda number: seen_before_page.append(len(made.tracker.owned)))
    made.ready[(("apps", "v1", "Deployment"), "app")] = threading.Event()
    made._objects(answers, SRC["_Attempt"](0.0), DEPLOYMENTS, "app", threading.Event())
    assert seen_before_page == [0, 3]  # the first page was done with before the second was read
    assert len(made.tracker.owned) == 5 and answers.watched_from == "500"
    assert made.ready[(("apps", "v1", "Deployment"), "app")].is_set() and made.pending == {}


def test_a_relist_reports_the_objects_deleted_while_the_watch_was_away():
    loop = FakeLoop()
    made = agent(loop)
    made._objects(Answers([[deployment("web"), deployment("api")]]), SRC["_Attempt"](0.0), DEPLOYMENTS, "app",
                  threading.Event())
    attempt = SRC["_Attempt"](0.0)
    made._objects(Answers([[deployment("api")]], events=[("MODIFIED", deployment("api"))]), attempt, DEPLOYMENTS,
                  "app", threading.Event())
    assert attempt.delivered
    loop.advance(1.0)
    assert [(c.change, c.ref.name) for c in made.batches["prod"].values()] == [("deleted", "web")]


def test_pages_for_watch_yields_each_page_with_the_first_pages_resource_version():
    client = kube.Client.__new__(kube.Client)
    client._pages = lambda res, namespace, selector: iter([
        {"metadata": {"resourceVersion": "77", "continue": "t"}, "items": [deployment("a"), deployment("b")]},
        {"metadata": {"resourceVersion": "78"}, "items": [deployment("c")]}])
    pages = list(client.pages_for_watch(DEPLOYMENTS, "app", "gitops.core/set"))
    assert [([o["metadata"]["name"] for o in items], rv) for items, rv in pages] == [(["a", "b"], "77"), (["c"], "77")]
    assert client.list_for_watch(DEPLOYMENTS)[1] == "77" and len(client.list_for_watch(DEPLOYMENTS)[0]) == 3


# ---------------------------------------------------------------------- the watch loop's backoff

class Closable:
    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


def watch_loop(made, clock, steps):
    """Run one watch loop over `steps` (seconds the watch lasts, whether it delivered events, the error
    it ends with); the sleeps between them.  The loop stops when the steps run out."""
    stop, sleeps, steps, clients = threading.Event(), [], iter(steps), []
    made._monotonic = clock
    made._sleep = lambda _stop, seconds: (sleeps.append(seconds), setattr(clock, "now", clock.now + seconds))
    made._new_client = lambda: clients.append(Closable()) or clients[-1]

    def body(client, attempt):
        step = next(steps, None)
        if step is None:
            stop.set()
            return
        lasted, delivered, error = step
        clock.now += lasted
        attempt.delivered = delivered
        raise error
    made._loop_until_stopped("watch deployments", body, stop)
    made.clients = clients
    return sleeps


def test_410_gone_relists_at_once_and_never_climbs_the_backoff():
    assert watch_loop(agent(), Clock(), [(0.2, False, GONE)]) == []
    assert watch_loop(agent(), Clock(), [(300, True, GONE)] * 5) == []  # ordinary 410s, watch after watch


def test_a_410_straight_after_the_relist_of_a_410_backs_off_instead_of_spinning():
    assert len(watch_loop(agent(), Clock(), [(0.1, False, GONE), (0.1, False, GONE)])) == 1


def test_failures_back_off_doubling_up_to_30_seconds():
    sleeps = watch_loop(agent(), Clock(), [(0.1, False, GitOpsError("connection refused"))] * 7)
    for slept, expected in zip(sleeps, [1, 2, 4, 8, 16, 30, 30]):
        assert 0.8 * expected <= slept <= 1.2 * expected


def test_the_backoff_starts_again_after_a_healthy_watch():
    refused = (0.1, False, GitOpsError("connection refused"))
    sleeps = watch_loop(agent(), Clock(), [refused] * 4 + [(0.5, True, GitOpsError("connection reset"))] + [refused])
    assert [round(s / e) for s, e in zip(sleeps, [1, 2, 4, 8, 1, 2])] == [1] * 6  # delivered events: healthy
    # (a hair over HEALTHY_AFTER: the fake clock adds jittered floats, so "exactly" could read 9.999...)
    sleeps = watch_loop(agent(), Clock(), [refused] * 3 + [(SRC["HEALTHY_AFTER"] + 1e-6, False, GONE)] + [refused])
    assert len(sleeps) == 4 and sleeps[-1] <= 1.2  # a quiet watch up for HEALTHY_AFTER seconds: healthy too


def test_an_unexpected_error_is_logged_with_its_traceback(caplog):
    caplog.set_level(logging.WARNING, logger="gitops.core.k8s_drift")
    watch_loop(agent(), Clock(), [(0, False, KeyError("metadata")), (0, False, GitOpsError("connection refused"))])
    bug, away = caplog.records
    assert bug.levelno == logging.ERROR and bug.exc_info and "KeyError" in caplog.text
    assert away.levelno == logging.WARNING and not away.exc_info and "connection refused" in away.getMessage()


def test_a_watch_keeps_its_client_until_an_unreachable_spoils_it_and_closes_it_at_the_end():
    made = agent()
    watch_loop(made, Clock(), [(0, False, GitOpsError("reset")), (0, False, kube.Unreachable("gone")),
                               (0, False, GitOpsError("reset"))])
    assert len(made.clients) == 2 and all(c.closed for c in made.clients)


# ---------------------------------------------------------------------- which kinds are watched

def refs(*kinds):
    return [ObjectRef(group, "v1", kind, namespace, "x") for group, kind, namespace in kinds]


def served(made):
    table = {("apps", "v1", "Deployment"): DEPLOYMENTS, ("rbac.authorization.k8s.io", "v1", "ClusterRole"): CLUSTER_ROLES,
             ("", "v1", "ConfigMap"): kube.CONFIG_MAPS}
    made._resource = table.get
    return made


def test_a_cluster_scoped_kind_is_watched_once_cluster_wide():
    made = served(agent(namespaces=["team-a", "team-b"]))
    made._record("prod", refs(("apps", "Deployment", "team-a"), ("rbac.authorization.k8s.io", "ClusterRole", None)))
    assert sorted(name for name, _stop in made.started) == [
        "k8s_drift clusterroles *", "k8s_drift deployments team-a", "k8s_drift deployments team-b"]
    assert len(made.ready) == 3


def test_a_kind_no_inventory_records_any_more_is_no_longer_watched():
    made = served(agent(sets=["prod", "staging"]))
    made._record("prod", refs(("apps", "Deployment", "app"), ("", "ConfigMap", "app")))
    made._record("staging", refs(("apps", "Deployment", "app")))
    stops = dict(made.started)
    made.tracker.observe("MODIFIED", deployment("web"), listed=True)
    made._record("prod", refs(("", "ConfigMap", "app")))  # staging still records Deployments
    assert not stops["k8s_drift deployments *"].is_set()
    made._record("staging", [])
    assert stops["k8s_drift deployments *"].is_set() and not stops["k8s_drift configmaps *"].is_set()
    assert set(made.watched) == {("", "v1", "ConfigMap")} and list(made.ready) == [(("", "v1", "ConfigMap"), None)]
    assert made.tracker.owned == {}
    made._record("staging", refs(("apps", "Deployment", "app")))  # recorded again: a new watch
    assert [name for name, _stop in made.started].count("k8s_drift deployments *") == 2


def test_startup_waits_for_the_first_list_of_every_watch():
    clock, made = Clock(), agent()
    made.tracker.record_inventory("prod", [])
    first, second = threading.Event(), threading.Event()
    made.ready = {(("apps", "v1", "Deployment"), "a"): first, (("apps", "v1", "Deployment"), "b"): second}
    first.set()

    async def sleep(seconds):
        clock.now += seconds
        if clock.now >= 3:
            second.set()
    made._monotonic, made._async_sleep = clock, sleep
    asyncio.run(made._startup())
    assert 3 <= clock.now < 3.5 and made.queue[0]["gitops"]["change"] == "startup"


# ---------------------------------------------------------------------- clients

def test_one_client_per_agent_with_the_credentials_loaded_once(monkeypatch):
    loads = []
    monkeypatch.setattr(kubeconfig, "load", lambda params: loads.append(params) or "settings")
    monkeypatch.setattr(kube, "Client", lambda settings, parallelism, retries: Closable())
    made = agent()
    shared = made.client()
    assert made.client() is shared and made._new_client() is not shared and len(loads) == 1
    made._discard(shared)  # spoiled by an Unreachable
    assert shared.closed and made.client() is not shared and len(loads) == 1
    latest = made.client()
    made._shutdown()
    assert latest.closed and made._shared is None


def record_of(*sets, abandoned=()):
    """A declaration's record (ConfigMap gitops-sets-<name>) listing `sets`."""
    body = {name: {"inventory_namespace": "gitops-system"} for name in sets}
    body.update({name: {"inventory_namespace": "gitops-system", "abandoned": True} for name in abandoned})
    return {"metadata": {"name": "gitops-sets-prod", "namespace": "gitops-system"}, "data": {"sets.json": json.dumps(body)}}


def inventory_cm(set_name, *kinds):
    return {"metadata": {"name": "gitops-set-%s" % set_name, "labels": {"gitops.core/inventory": set_name}},
            "data": {"objects.json": json.dumps([[g, "v1", k, ns, "x"] for g, k, ns in kinds])}}


def test_a_declaration_names_the_sets_watched_and_its_changes_are_followed_without_a_restart():
    made = served(agent(sets=[], declaration="prod"))
    assert made._selector("gitops.core/set") == "gitops.core/set"  # every set's objects, kept by the tracker
    # an inventory seen before its set is declared is remembered, not watched
    assert made._inventory_changed("ADDED", inventory_cm("apps", ("apps", "Deployment", "app"))) is None
    assert made.watched == {}
    made._declared_sets(record_of("apps", "web", abandoned=["old"]))
    assert made.sets == ["apps", "web"] and made.tracker.sets == {"apps", "web"}
    assert set(made.watched) == {("apps", "v1", "Deployment")}  # apps' inventory, seen earlier, now watched
    assert made._inventory_changed("ADDED", inventory_cm("web", ("", "ConfigMap", "app"))) == "web"
    assert set(made.watched) == {("apps", "v1", "Deployment"), ("", "v1", "ConfigMap")}
    made._declared_sets(record_of("web"))  # apps left the declaration: its kinds are no longer watched
    assert made.sets == ["web"] and set(made.watched) == {("", "v1", "ConfigMap")}
    assert made.tracker.observe("MODIFIED", dict(deployment("web"), metadata=dict(
        deployment("web")["metadata"], labels={"gitops.core/set": "apps"})), listed=True) is None


def test_without_a_declaration_the_watches_select_the_named_sets():
    made = agent(sets=["prod", "staging"])
    assert made._selector("gitops.core/set") == "gitops.core/set in (prod,staging)" and made.declared.is_set()
    with pytest.raises(GitOpsError, match="names no set and no `declaration`"):
        agent(sets=[])
