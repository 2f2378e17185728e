"""Benchmark: git_desired_state on a repository of N manifest files.

Prints wall times for the first fetch, an unchanged re-run and a re-run after a one-file commit,
both for the module's code path (module_utils, in-process) and for a whole ansible-playbook task,
next to a plain `git clone` + `kubectl kustomize`-free YAML load as the floor.

usage: python bench/bench_git_desired_state.py [N]   (run from the repository root, in .venv)
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".collections"), str(ROOT / "tests" / "integration")]
from ansible_collections.gitops.core.plugins.module_utils.source.desired_state import fetch_desired_state  # noqa: E402
from local_runner import local_runner  # noqa: E402

ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
       "GIT_COMMITTER_EMAIL": "b@x", "GIT_CONFIG_NOSYSTEM": "1"}
CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-%(i)05d
  namespace: bench
  labels: {app: bench, index: "%(i)d"}
data:
  key: value-%(i)d
  config.yaml: |
    setting: %(i)d
"""


def sh(*args, cwd=None):
    subprocess.run(args, cwd=cwd, env=ENV, check=True, capture_output=True)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def playbook(repo, dest):
    book = Path(dest).parent / "bench.yml"
    book.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - gitops.core.git_desired_state: {{repo: {repo}, dest: {dest}}}
""")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"))
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + sys.executable, str(book)]
    return lambda: subprocess.run(cmd, env=env, check=True, capture_output=True)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    tmp = Path(tempfile.mkdtemp(prefix="bench-gds-"))
    work, bare = tmp / "work", tmp / "repo.git"
    sh("git", "init", "-q", "-b", "main", str(work))
    for i in range(n):
        d = work / "apps" / f"team-{i % 20:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"cm-{i:05d}.yaml").write_text(CM % {"i": i})
    sh("git", "add", "-A", cwd=work)
    sh("git", "commit", "-q", "-m", "init", cwd=work)
    sh("git", "clone", "-q", "--bare", str(work), str(bare))

    params = {"repo": str(bare), "dest": str(tmp / "cache")}
    rows = []
    t, r = timed(lambda: fetch_desired_state(params, local_runner))
    rows.append(("module_utils: first fetch", t, r["changed"], r["object_count"]))
    t, r = timed(lambda: fetch_desired_state(params, local_runner))
    rows.append(("module_utils: unchanged re-run", t, r["changed"], r["object_count"]))
    (work / "apps" / "team-00" / "cm-00000.yaml").write_text(CM % {"i": 999999})
    sh("git", "commit", "-q", "-am", "one file", cwd=work)
    sh("git", "push", "-q", str(bare), "HEAD:main", cwd=work)
    t, r = timed(lambda: fetch_desired_state(params, local_runner))
    rows.append(("module_utils: one-file change", t, r["changed"], r["object_count"]))

    pb_params = str(tmp / "cache-pb")
    run_pb = playbook(str(bare), pb_params)
    t_first = timed(run_pb)[0]
    t_again = timed(run_pb)[0]
    rows.append(("ansible-playbook: first fetch (whole playbook)", t_first, None, n))
    rows.append(("ansible-playbook: unchanged re-run (whole playbook)", t_again, None, n))
    t = timed(lambda: sh("git", "clone", "-q", str(bare), str(tmp / "plain-clone")))[0]
    rows.append(("floor: plain git clone (no load)", t, None, None))

    print(f"git_desired_state, {n} files, {n} objects")
    for name, secs, changed, count in rows:
        extra = "" if changed is None else f"  changed={changed} objects={count}"
        print(f"  {name:55s} {secs * 1000:8.0f} ms{extra}")
    print(json.dumps({row[0]: round(row[1], 3) for row in rows}))


if __name__ == "__main__":
    main()
