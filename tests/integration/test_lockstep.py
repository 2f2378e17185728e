"""lockstep.py itself, without a cluster or ansible-playbook: the runs of all cases go out as few
playbooks as their longest chain, each case gets its own results in its order, and one case's failure
or missing fixture is its own.  `play` here reads the playbook text and answers each task with its
params, as the record callback would give them back."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import yaml
from lockstep import Batch, Lockstep

pytestmark = pytest.mark.integration


def fake_play(books: list):
    def play(text: str):
        books.append(text)
        results = {}
        for task in yaml.safe_load(text)[0]["tasks"]:
            module = next(k for k in task if k.startswith("gitops.core."))
            results[task["vars"]["record_as"]] = {"params": task[module], "register": task["register"]}
        return SimpleNamespace(stdout="".join(f"TASK [{t['name']}] ***\nok: [localhost]\n"
                                              for t in yaml.safe_load(text)[0]["tasks"]), stderr="", results=results)
    return play


def test_cases_share_playbooks_get_their_own_results_and_fail_alone():
    book = Lockstep()
    seen = {}

    @book.fixture
    def label():
        return "x"

    @book.case
    def test_three_runs(run_tasks, label):
        first = run_tasks([("k8s_reconcile", {"n": 1}), ("drift_check", {"n": 2})])
        second = run_tasks([("k8s_reconcile", {"n": 3})])
        third = run_tasks([("k8s_reconcile", {"n": label})])
        seen["three"] = [r["params"]["n"] for r in first + second + third], first[1]["register"]

    @book.case
    def test_one_run(run_task):
        seen["one"] = run_task("k8s_reconcile", {"n": "only"})

    @book.case
    def test_fails(run_task):
        run_task("k8s_reconcile", {"n": 0})
        raise AssertionError("this case fails")

    @book.case
    def test_unknown_fixture(no_such_fixture):
        pass

    books = []
    batch = Batch(book, fake_play(books), {})
    batch.run(list(book.cases))
    assert len(books) == 3  # the longest chain, not 6 runs
    assert seen["three"] == ([1, 2, 3, "x"], "step1")
    assert seen["one"]["params"] == {"n": "only"} and "test_one_run, step 0, k8s_reconcile" in seen["one"]["_stdout"]
    assert "test_three_runs" not in seen["one"]["_stdout"]
    assert batch.outcomes["test_three_runs"] is None and batch.outcomes["test_one_run"] is None
    assert str(batch.outcomes["test_fails"]) == "this case fails"
    assert "asks for 'no_such_fixture'" in str(batch.outcomes["test_unknown_fixture"])


def test_a_playbook_without_a_result_fails_the_waiting_cases():
    book = Lockstep()

    @book.case
    def test_waits(run_task):
        run_task("k8s_reconcile", {})

    batch = Batch(book, lambda text: SimpleNamespace(stdout="PLAY RECAP", stderr="boom", results={}), {})
    batch.run(["test_waits"])
    assert "no result for test_waits step 0" in str(batch.outcomes["test_waits"])


def test_a_case_still_busy_at_the_deadline_fails_with_the_cases_waiting_on_it():
    """A playbook goes out only when every case waits: the cases waiting on a stuck one fail with it;
    a case that had finished keeps its outcome."""
    book = Lockstep()
    release = threading.Event()

    @book.case
    def test_stuck(run_task):
        release.wait(30)

    @book.case
    def test_waiting(run_task):
        run_task("k8s_reconcile", {"n": 1})

    @book.case
    def test_finished(run_task):
        pass

    books = []
    batch = Batch(book, fake_play(books), {}, deadline_s=0.5)
    batch.run(["test_stuck", "test_waiting", "test_finished"])
    release.set()
    for case in ("test_stuck", "test_waiting"):
        assert "still busy after 0.5s (with test_stuck, test_waiting)" in str(batch.outcomes[case])
    assert batch.outcomes["test_finished"] is None and books == []
