"""Benchmark: the cost of SOPS decryption in git_desired_state, for N Secrets kept one per file
encrypted with age (the usual layout), beside the same Secrets in plain text and beside the floor:
`sops decrypt` of each file alone, one process per file (what any tool calling the sops binary pays;
Flux links sops' Go library into its controller and pays no process start).  In one run, median (and
fastest) of BENCH_REPEAT (default 5) unchanged re-runs of the module's code path in-process (the
Git cache warm: what a scheduled sync pays) and the first fetch once.  Nothing here asserts a time.

usage: python bench/bench_sops.py [N]   (repository root, in .venv; sops and age-keygen from .cluster/bin)
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
os.environ["PATH"] = "%s%s%s" % (ROOT / ".cluster" / "bin", os.pathsep, os.environ.get("PATH", ""))
from ansible_collections.gitops.core.plugins.module_utils.source.desired_state import fetch_desired_state  # noqa: E402
from local_runner import local_runner  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
       "GIT_COMMITTER_EMAIL": "b@x", "GIT_CONFIG_NOSYSTEM": "1"}
SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: app-%(i)03d
  namespace: bench
stringData:
  password: pw-%(i)03d-bench-value
  user: app-%(i)03d
"""


def sh(*args, cwd=None, data=None, env=None):
    return subprocess.run(args, cwd=cwd, env=env or ENV, check=True, capture_output=True, input=data).stdout


def timed(fn, repeat=1):
    times = []
    for _round in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def repository(tmp, name, files):
    work, bare = tmp / (name + "-work"), tmp / (name + ".git")
    sh("git", "init", "-q", "-b", "main", str(work))
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(text)
    sh("git", "add", "-A", cwd=work)
    sh("git", "commit", "-q", "-m", "init", cwd=work)
    sh("git", "clone", "-q", "--bare", str(work), str(bare))
    return str(bare), work


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    for tool in ("sops", "age-keygen"):
        if not subprocess.run(["which", tool], capture_output=True, check=False).returncode == 0:
            raise SystemExit("%s is not on PATH: run `make cluster-up` (it links .cluster/bin/%s)" % (tool, tool))
    tmp = Path(tempfile.mkdtemp(prefix="bench-sops-"))
    sh("age-keygen", "-o", str(tmp / "age.txt"))
    key = (tmp / "age.txt").read_text()
    recipient = [ln.split(": ")[1] for ln in key.splitlines() if ln.startswith("# public key: ")][0]
    plain = {"secrets/app-%03d.yaml" % i: (SECRET % {"i": i}).encode() for i in range(n)}
    encrypted = {rel: sh("sops", "encrypt", "--age", recipient, "--encrypted-regex", "^(data|stringData)$",
                         "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin", data=text)
                 for rel, text in plain.items()}
    plain_repo = repository(tmp, "plain", plain)[0]
    enc_repo, enc_work = repository(tmp, "encrypted", encrypted)

    rows = []
    params = {"repo": plain_repo, "dest": str(tmp / "cache-plain")}
    rows.append(("plain Secrets: first fetch", timed(lambda: fetch_desired_state(params, local_runner))))
    rows.append(("plain Secrets: unchanged re-run", timed(lambda: fetch_desired_state(params, local_runner), REPEAT)))
    params_enc = {"repo": enc_repo, "dest": str(tmp / "cache-enc"), "decryption": {"age_keys": [key]}}
    rows.append(("SOPS Secrets, decryption: first fetch",
                 timed(lambda: fetch_desired_state(params_enc, local_runner))))
    rows.append(("SOPS Secrets, decryption: unchanged re-run",
                 timed(lambda: fetch_desired_state(params_enc, local_runner), REPEAT)))
    env = dict(ENV, SOPS_AGE_KEY_FILE=str(tmp / "age.txt"))

    def sops_alone():
        for rel in encrypted:
            sh("sops", "decrypt", str(enc_work / rel), env=env)
    rows.append(("floor: sops decrypt, one process per file", timed(sops_alone, REPEAT)))
    one = b"---\n".join(plain.values())
    (tmp / "all.yaml").write_bytes(sh("sops", "encrypt", "--age", recipient, "--encrypted-regex",
                                      "^(data|stringData)$", "--input-type", "yaml", "--output-type", "yaml",
                                      "/dev/stdin", data=one))
    rows.append(("floor: sops decrypt, all in one file (one process)",
                 timed(lambda: sh("sops", "decrypt", str(tmp / "all.yaml"), env=env), REPEAT)))

    result = fetch_desired_state(params_enc, local_runner)
    assert result["object_count"] == n and all("ENC[" not in json.dumps(o) for o in result["objects"])
    print("SOPS decryption, %d Secrets one per file (age), median (fastest) of %d" % (n, REPEAT))
    for name, (median, fastest) in rows:
        print("  %-55s %8.0f ms (%.0f)" % (name, median * 1000, fastest * 1000))
    extra = rows[3][1][0] - rows[1][1][0]
    floor = rows[4][1][0]
    print("  decryption's own cost per Secret: %.1f ms (the floor's: %.1f ms)" % (extra * 1000 / n, floor * 1000 / n))
    print(json.dumps({name: round(median, 3) for name, (median, _f) in rows}))


if __name__ == "__main__":
    main()
