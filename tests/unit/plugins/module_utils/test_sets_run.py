"""Many sets in one run (jobs/sets.py): the plan of the sets, dependency order and skips, as
plain data (the cluster side is proven by tests/integration/test_sets.py)."""

import threading
import time

import pytest

from ansible_collections.gitops.core.plugins.module_utils.cluster.set_args import SET_OPTIONS
from ansible_collections.gitops.core.plugins.module_utils.common import graph
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.jobs import sets
from ansible_collections.gitops.core.plugins.module_utils.jobs import reconcile
from ansible_collections.gitops.core.plugins.modules import k8s_reconcile

JOB = sets.Job("reconcile", reconcile.Options.from_params, reconcile.run)


def params(*entries, **extra):
    """k8s_reconcile's params with its defaults, and `entries` as option `sets`."""
    out = {name: spec.get("default") for name, spec in k8s_reconcile.argument_spec().items()}
    full = []
    for e in entries:
        full.append(dict({k: v.get("default") for k, v in SET_OPTIONS.items()}, **e))
    out.update(sets=full, **extra)
    return out


def test_waves_follow_dependencies_in_declaration_order():
    deps = {"apps": ["crds", "ns"], "crds": [], "ns": [], "mon": ["crds"], "web": ["apps"]}
    assert graph.waves(["apps", "crds", "ns", "mon", "web"], deps) == [["crds", "ns"], ["apps", "mon"], ["web"]]


def test_a_cycle_is_named_in_order():
    with pytest.raises(GitOpsError, match=r"dependency cycle: a -> b -> c -> a"):
        graph.waves(["a", "b", "c", "d"], {"a": ["b"], "b": ["c"], "c": ["a"], "d": []})


def test_plan_refuses_a_duplicate_an_unknown_dependency_and_a_cycle_before_anything_runs():
    with pytest.raises(GitOpsError, match=r"sets\[1\]: set 'a' is listed twice"):
        sets.Plan(params({"name": "a"}, {"name": "a"}), False, False, JOB)
    with pytest.raises(GitOpsError, match=r"sets\[0\]: set 'a' depends on 'x', which is not among the sets"):
        sets.Plan(params({"name": "a", "depends_on": ["x"]}), False, False, JOB)
    with pytest.raises(GitOpsError, match=r"a -> b -> a"):
        sets.Plan(params({"name": "a", "depends_on": ["b"]}, {"name": "b", "depends_on": ["a"]}), False, False,
                  JOB)
    with pytest.raises(GitOpsError, match=r"set 'Bad_Name'"):
        sets.Plan(params({"name": "Bad_Name"}), False, False, JOB)


def test_a_set_takes_its_own_fields_and_the_modules_options_otherwise():
    plan = sets.Plan(params({"name": "crds", "namespace": "infra"},
                            {"name": "apps", "depends_on": ["crds"], "service_account": "team-a/deployer",
                             "prune": False, "max_deletions": 3}, namespace="default", prune=True),
                     False, False, JOB)
    assert plan.params["crds"]["namespace"] == "infra" and plan.params["crds"]["prune"] is True
    assert plan.params["crds"]["wait"] is True  # a set others depend on is waited for
    apps = plan.params["apps"]
    assert (apps["namespace"], apps["prune"], apps["max_deletions"]) == ("default", False, 3)
    assert apps["impersonate_user"] == "system:serviceaccount:team-a:deployer"
    assert apps["wait"] is False  # the module's default: no set depends on it
    with pytest.raises(GitOpsError, match=r"set 'x': service_account 'deployer' must be <namespace>/<name>"):
        sets.Plan(params({"name": "x", "service_account": "deployer"}), False, False, JOB)


def test_dependents_of_a_failed_set_are_skipped_naming_why_and_unrelated_sets_go_on():
    plan = sets.Plan(params({"name": "a"}, {"name": "b", "depends_on": ["a"]}, {"name": "c", "depends_on": ["b"]},
                            {"name": "d"}), False, False, JOB)
    ran = []

    def run_one(name):
        ran.append(name)
        if name == "a":
            raise GitOpsError("boom")
        return {"changed": True}

    outcome = sets.schedule(plan, run_one, 2)
    assert sorted(ran) == ["a", "d"]
    assert outcome["a"][0] == sets.FAILED and outcome["d"][0] == sets.OK and outcome["d"][1]["changed"] is True
    assert 0 <= outcome["d"][1]["started"] <= outcome["d"][1]["finished"]
    assert outcome["b"] == (sets.SKIPPED, "its dependency 'a' failed")
    assert outcome["c"] == (sets.SKIPPED, "its dependency 'b' was skipped")


def test_a_set_starts_only_after_its_dependency_finished_and_independent_sets_overlap():
    plan = sets.Plan(params({"name": "slow"}, {"name": "after", "depends_on": ["slow"]}, {"name": "free"}),
                     False, False, JOB)
    events, lock = [], threading.Lock()

    def run_one(name):
        with lock:
            events.append(("start", name))
        time.sleep(0.2 if name == "slow" else 0.01)
        with lock:
            events.append(("end", name))
        return {}

    sets.schedule(plan, run_one, 4)
    assert events.index(("end", "slow")) < events.index(("start", "after"))
    assert events.index(("start", "free")) < events.index(("end", "slow"))


def test_parallelism_bounds_the_sets_running_at_once():
    plan = sets.Plan(params(*[{"name": "s%d" % i} for i in range(6)]), False, False, JOB)
    running, peak, lock = [0], [0], threading.Lock()

    def run_one(name):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return {}

    sets.schedule(plan, run_one, 2)
    assert peak[0] == 2


def test_a_dependent_listed_before_its_skipped_dependency_is_skipped_too():
    plan = sets.Plan(params({"name": "c", "depends_on": ["b"]}, {"name": "b", "depends_on": ["a"]}, {"name": "a"}),
                     False, False, JOB)

    def run_one(name):
        raise GitOpsError("boom")

    outcome = sets.schedule(plan, run_one, 2)
    assert outcome["a"][0] == sets.FAILED
    assert outcome["b"] == (sets.SKIPPED, "its dependency 'a' failed")
    assert outcome["c"] == (sets.SKIPPED, "its dependency 'b' was skipped")
