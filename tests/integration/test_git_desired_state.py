"""gitops.core.git_desired_state through real ansible-playbook, on real git repositories, with
real GPG and SSH keys and a real HTTP git server."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from gitfixtures import GitHttpServer, Keys, Repo, sh
from helpers import ok
from lockstep import Lockstep

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: default}\ndata: {k: \"%s\"}\n"
# the tests that run playbooks one after another are lockstep cases: their runs share ansible-playbook
# start-ups (lockstep.py)
lockstep = Lockstep()
DEPLOY = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec: {replicas: %d}\n"


@lockstep.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("keys"))


@lockstep.fixture
def repo(tmp_path, keys):
    return Repo(tmp_path, keys)


@lockstep.fixture
def gds(run_tasks, tmp_path):
    """gds(**params): run the module once (failures included) and return its registered result;
    gds.each({...}, {...}): consecutive runs with nothing between them, in one playbook."""

    def task(check: bool = False, **params):
        params.setdefault("dest", str(tmp_path / "cache"))
        return ("git_desired_state", params, {"check": check})

    def run(check: bool = False, **params):
        return run_tasks([task(check, **params)])[0]

    run.each = lambda *runs: run_tasks([task(**params) for params in runs])
    return run


def failed(result, *fragments):
    assert result.get("failed"), "expected a failure, got %s" % {k: result.get(k) for k in ("commit", "ref")}
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]
    return result["msg"]


# ---------------------------------------------------------------- fetching


@lockstep.case
def test_default_branch_gives_commit_metadata_and_objects(repo, gds):
    sha = repo.commit({"apps/web.yaml": DEPLOY % 2, "apps/cm.yaml": CM % ("cfg", "v1"), "README.md": "x"},
                      message="first change")
    r = ok(gds(repo=repo.url))
    assert r["changed"] is True and r["previous_commit"] is None
    assert (r["commit"], r["short_commit"], r["ref"]) == (sha, sha[:12], "refs/heads/main")
    assert (r["author"], r["subject"]) == ("Dev <dev@example.com>", "first change")
    assert r["files"] == ["apps/cm.yaml", "apps/web.yaml"]
    assert [o["kind"] for o in r["objects"]] == ["ConfigMap", "Deployment"] and r["object_count"] == 2
    assert r["sources"][1] == {"ref": "apps/Deployment default/web", "file": "apps/web.yaml", "document": 1}
    assert r["source"] == {"repo": repo.url, "path": ["."], "commit": sha, "subject": r["subject"],
                           "commit_date": r["commit_date"]}
    assert r["signature"] == {"verified": False, "format": None, "signer": None, "key": None}
    assert len(r["digest"]) == 64


@lockstep.case
def test_rerun_on_unchanged_repo_is_not_changed_with_the_same_digest(repo, gds):
    repo.commit({"a.yaml": CM % ("a", "1")})
    first, second = ok(gds(repo=repo.url)), ok(gds(repo=repo.url))
    assert second["changed"] is False and second["previous_commit"] == first["commit"]
    assert second["digest"] == first["digest"]


@lockstep.case
def test_branch_tag_and_commit_each_resolve(repo, gds):
    c1 = repo.commit({"a.yaml": CM % ("a", "1")})
    repo.tag("v1")
    c2 = repo.commit({"a.yaml": CM % ("a", "2")}, branch="dev")
    dev, tagged, full, short = map(ok, gds.each(*({"repo": repo.url, "version": v} for v in ("dev", "v1", c2, c1[:8]))))
    assert dev["commit"] == c2
    assert (tagged["commit"], tagged["ref"]) == (c1, "refs/tags/v1")
    assert tagged["objects"][0]["data"]["k"] == "1"
    assert full["commit"] == c2
    assert (short["commit"], short["ref"]) == (c1, c1)


@lockstep.case
def test_force_pushed_branch_is_followed(repo, gds):
    repo.commit({"a.yaml": CM % ("a", "1")})
    before = repo.commit({"a.yaml": CM % ("a", "2")})
    ok(gds(repo=repo.url))
    repo.git("reset", "-q", "--hard", "HEAD~1")
    rewritten = repo.commit({"a.yaml": CM % ("a", "rewritten")})
    r = ok(gds(repo=repo.url))
    assert (r["commit"], r["previous_commit"], r["changed"]) == (rewritten, before, True)
    assert r["objects"][0]["data"]["k"] == "rewritten"


@lockstep.case
def test_local_edits_in_the_cache_are_discarded(repo, gds, tmp_path):
    repo.commit({"a.yaml": CM % ("a", "1")})
    ok(gds(repo=repo.url))
    (tmp_path / "cache" / "a.yaml").write_text(CM % ("a", "edited"))
    (tmp_path / "cache" / "planted.yaml").write_text(CM % ("planted", "x"))
    r = ok(gds(repo=repo.url))
    assert r["changed"] is False
    assert [o["metadata"]["name"] for o in r["objects"]] == ["a"] and r["objects"][0]["data"]["k"] == "1"


@lockstep.case
def test_check_mode_fetches_and_returns_the_objects(repo, gds):
    sha = repo.commit({"a.yaml": CM % ("a", "1")})
    r = ok(gds(check=True, repo=repo.url))
    assert r["commit"] == sha and r["object_count"] == 1


@lockstep.case
def test_shallow_fetch(repo, gds):
    for i in range(3):
        sha = repo.commit({"a.yaml": CM % ("a", str(i))})
    r = ok(gds(repo=repo.url, depth=1, dest=str(repo.work.parent / "shallow")))
    assert r["commit"] == sha
    count = sh("git", "rev-list", "--count", "HEAD", cwd=r["cache_dir"]).strip()
    assert count == "1"


@lockstep.case
def test_paths_recursion_and_globs(repo, gds):
    repo.commit({"base/a.yaml": CM % ("a", "1"), "base/sub/b.yml": CM % ("b", "1"),
                 "base/c.json": json.dumps(json.loads(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                                  "metadata": {"name": "c"}}))),
                 "base/skip-me.yaml": CM % ("skip", "1"), "other/d.yaml": CM % ("d", "1")})
    r, flat = map(ok, gds.each({"repo": repo.url, "path": ["base"], "exclude": ["skip-*"]},
                               {"repo": repo.url, "path": ["base"], "recursive": False, "include": ["*.yaml"],
                                "exclude": ["skip-*"]}))
    assert r["files"] == ["base/a.yaml", "base/c.json", "base/sub/b.yml"]
    assert flat["files"] == ["base/a.yaml"]


@lockstep.case
def test_list_kinds_are_flattened(repo, gds):
    repo.commit({"list.yaml": "apiVersion: v1\nkind: List\nitems:\n"
                 "- {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n"
                 "- {apiVersion: v1, kind: ConfigMap, metadata: {name: y}}\n"})
    assert [o["metadata"]["name"] for o in ok(gds(repo=repo.url))["objects"]] == ["x", "y"]


# ---------------------------------------------------------------- rendering


@lockstep.case
def test_jinja_templates_render_with_template_vars(repo, gds):
    repo.commit({"web.yaml.j2": DEPLOY.replace("%d", "{{ replicas }}"), "cm.yaml": CM % ("plain", "{{ untouched }}")})
    r = ok(gds(repo=repo.url, template_vars={"replicas": 4}))
    by_kind = {o["kind"]: o for o in r["objects"]}
    assert by_kind["Deployment"]["spec"]["replicas"] == 4
    assert by_kind["ConfigMap"]["data"]["k"] == "{{ untouched }}"


@lockstep.case
def test_jinja_undefined_variable_names_file_and_variable(repo, gds):
    repo.commit({"web.yaml.j2": DEPLOY.replace("%d", "{{ replicas }}")})
    failed(gds(repo=repo.url), "web.yaml.j2: Jinja error", "'replicas' is undefined")


@lockstep.case
def test_jinja_sandbox_refuses_unsafe_attributes(repo, gds):
    repo.commit({"x.yaml.j2": "a: {{ ''.__class__.__mro__ }}\n"})
    failed(gds(repo=repo.url), "x.yaml.j2: Jinja error")


@lockstep.case
def test_jinja_include_and_import_read_from_the_checkout(repo, gds):
    repo.commit({"apps/cm.yaml.j2": "{% import 'partials/macros.j2' as m %}"
                                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ m.name('web') }}\n"
                                    "data:\n{% include 'partials/data.j2' %}\n",
                 "partials/macros.j2": "{% macro name(x) %}{{ x }}-config{% endmacro %}",
                 "partials/data.j2": "  tier: {{ tier }}"})
    r = ok(gds(repo=repo.url, path=["apps"], template_vars={"tier": "front"}))
    assert r["objects"] == [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
                             "data": {"tier": "front"}}]


@lockstep.case
def test_jinja_include_of_a_missing_or_outside_file_is_a_clear_error(repo, gds):
    repo.commit({"a.yaml.j2": "{% include 'partials/none.j2' %}\n"})
    failed(gds(repo=repo.url), "a.yaml.j2: Jinja template 'partials/none.j2' not found in the repository")
    repo.commit({"a.yaml.j2": "{% include '../../../../../../etc/passwd' %}\n"})
    failed(gds(repo=repo.url), "a.yaml.j2: Jinja error: ../../../../../../etc/passwd: path",
           "resolves outside the repository")


@lockstep.case
def test_kustomize_folder_is_rendered(repo, gds):
    repo.commit({"app/kustomization.yaml": "namePrefix: prod-\nnamespace: shop\nresources: [cm.yaml]\n",
                 "app/cm.yaml": CM % ("cfg", "1"), "loose.yaml": CM % ("loose", "1")})
    r = ok(gds(repo=repo.url))
    assert r["files"] == ["app", "loose.yaml"]
    names = sorted((o["metadata"].get("namespace"), o["metadata"]["name"]) for o in r["objects"])
    assert names == [("default", "loose"), ("shop", "prod-cfg")]


@lockstep.case
def test_kustomize_remote_resources_are_refused(repo, gds):
    repo.commit({"app/kustomization.yaml": "resources:\n- https://github.com/org/repo//base?ref=main\n"})
    failed(gds(repo=repo.url), "app/kustomization.yaml: resources entry 'https://github.com/org/repo//base?ref=main'",
           "remote resources are refused")


@lockstep.case
def test_kustomize_cannot_read_outside_its_root_and_its_errors_keep_secret_literals(repo, gds):
    secret = "pw-" + uuid.uuid4().hex
    repo.commit({"app/kustomization.yaml": "resources: [../outside.yaml]\n", "outside.yaml": CM % ("o", "1"),
                 # a literal without its key: kustomize quotes the whole literal in its error
                 "gen/kustomization.yaml": "secretGenerator:\n- name: db\n  literals: [%s]\n" % secret})
    outside, generator = gds.each({"repo": repo.url, "path": ["app"]}, {"repo": repo.url, "path": ["gen"]})
    failed(outside, "kustomize build app failed")
    failed(generator, "kustomize build gen failed", "invalid literal source (hidden)")
    assert secret not in generator["msg"] and secret not in generator["_stdout"]


# ---------------------------------------------------------------- errors


BAD_MANIFESTS = [
    ({"bad.yaml": "a: 1\nb: [1, 2\nc: 3\n"}, ["bad.yaml: line", "YAML syntax error"]),
    ({"x.yaml": "kind: ConfigMap\nmetadata: {name: a}\n"}, ["x.yaml, document 1: apiVersion is missing"]),
    ({"x.yaml": "apiVersion: v1\nmetadata: {name: a}\n"}, ["x.yaml, document 1: kind is missing"]),
    ({"x.yaml": CM % ("a", "1") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n"},
     ["x.yaml, document 2: metadata.name is missing"]),
    ({"a.yaml": CM % ("dup", "1"), "b.yaml": CM % ("dup", "2")},
     ["ConfigMap default/dup is declared twice: a.yaml document 1 and b.yaml document 1"]),
    ({"d.yaml": "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n"},
     ["d.yaml, document 1: duplicate key 'kind' at line 3"]),
    ({"bomb.yaml": "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        "%s: &%s [%s]\n" % (c, c, ",".join(["*" + p] * 10)) for p, c in zip("abcdefgh", "bcdefghi"))},
     ["bomb.yaml", "alias bomb"]),
    # encrypted content is refused, never returned as objects holding ciphertext
    ({"db.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: 'ENC[AES256_GCM,data:Dq2W0g==,"
                 "type:str]'}\nsops: {mac: 'ENC[AES256_GCM,data:q1Vd2w==,type:str]', version: 3.13.1, "
                 "encrypted_regex: '^(data|stringData)$'}\n"},
     ["db.yaml is SOPS-encrypted; give `decryption`", "refused rather than applied as ciphertext"]),
    ({"v.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  password: !vault |\n"
                "    $ANSIBLE_VAULT;1.1;AES256\n    6162636465\n"}, ["v.yaml, document 1: a !vault value (Ansible Vault)"]),
]


@lockstep.case
def test_bad_manifests_fail_with_file_document_and_field(gds, keys, tmp_path):
    """Each case in a repository of its own, all in one playbook."""
    repos = []
    for index, (files, _fragments) in enumerate(BAD_MANIFESTS):
        repos.append(Repo(tmp_path / str(index), keys))
        repos[-1].commit(files)
    results = gds.each(*({"repo": r.url, "dest": str(tmp_path / ("cache-%d" % i))} for i, r in enumerate(repos)))
    for result, (_files, fragments) in zip(results, BAD_MANIFESTS):
        failed(result, *fragments)


@lockstep.case
def test_symlink_chain_out_of_the_checkout_is_refused(repo, gds, tmp_path):
    (tmp_path / "host-secret.yaml").write_text(CM % ("stolen", "secret"))
    os.symlink(str(tmp_path / "host-secret.yaml"), repo.work / "hop1.yaml")
    os.symlink("hop1.yaml", repo.work / "hop2.yaml")
    repo.commit({"ok.yaml": CM % ("a", "1")})
    msg = failed(gds(repo=repo.url), "resolves outside the repository")
    assert "secret" not in msg.replace("host-secret", "")


@lockstep.case
def test_file_over_the_size_limit_is_refused(repo, gds):
    repo.commit({"big.yaml": CM % ("big", "x" * 2000)})
    failed(gds(repo=repo.url, max_file_bytes=1000), "big.yaml is", "over the limit of 1000 (max_file_bytes)")


@lockstep.case
def test_object_limit(repo, gds):
    repo.commit({"a.yaml": "---\n".join(CM % (n, n) for n in "abc")})
    failed(gds(repo=repo.url, max_objects=2), "3 objects, over the limit of 2 (max_objects)")


@lockstep.case
def test_unknown_ref_and_unreachable_remote(repo, gds, tmp_path):
    repo.commit({"a.yaml": CM % ("a", "1")})
    unknown, missing = gds.each({"repo": repo.url, "version": "nope"}, {"repo": str(tmp_path / "missing.git")})
    failed(unknown, "unknown ref 'nope'")
    failed(missing, "unreachable or does not exist")
    assert missing["rc"] == 128 and "rc" not in unknown  # git's exit code reaches the result


UNSAFE = [
    ({"repo": "ext::sh -c touch%% %(marker)s"}, "transport helper"),
    ({"repo": "fd::3"}, "transport helper"),
    ({"repo": "--upload-pack=touch %(marker)s"}, "must not start with '-'"),
    ({"version": "--upload-pack=touch %(marker)s"}, "must not start with '-'"),
    ({"version": "main --upload-pack=touch"}, "is not a valid branch, tag or commit name"),
]


@lockstep.case
def test_unsafe_repo_or_version_is_refused_and_nothing_runs(repo, gds, tmp_path):
    repo.commit({"a.yaml": CM % ("a", "1")})
    marker = tmp_path / "pwned"
    runs = [{"repo": repo.url, **{k: v % {"marker": marker} for k, v in params.items()}} for params, _f in UNSAFE]
    for result, (_params, fragment) in zip(gds.each(*runs), UNSAFE):
        failed(result, fragment)
    assert not marker.exists()
    assert not (tmp_path / "cache").exists()


@lockstep.case
def test_dest_that_is_not_a_cache_is_never_overwritten(repo, gds, tmp_path):
    repo.commit({"a.yaml": CM % ("a", "1")})
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    failed(gds(repo=repo.url, dest=str(precious)), "is not a gitops.core cache; refusing to overwrite it")
    assert [p.name for p in precious.iterdir()] == ["notes.txt"]


@lockstep.case
def test_cache_left_by_an_interrupted_run_is_repaired(repo, gds, tmp_path):
    sha = repo.commit({"a.yaml": CM % ("a", "1")})
    cache = Path(ok(gds(repo=repo.url))["cache_dir"])
    state_file = cache / ".git" / "gitops-core-cache.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "in_progress": True}))
    (cache / ".git" / "index.lock").write_text("")
    assert ok(gds(repo=repo.url))["commit"] == sha
    # a broken object store (say, the disk filled up mid-fetch) is rebuilt from the remote
    state_file.write_text(json.dumps({**state, "in_progress": True}))
    for obj in (cache / ".git" / "objects").rglob("*"):
        if obj.is_file() and obj.parent.name not in ("info", "pack"):
            obj.unlink()
    r = ok(gds(repo=repo.url))
    assert r["commit"] == sha and r["object_count"] == 1


def test_concurrent_runs_on_one_cache_both_succeed(repo, tmp_path):
    repo.commit({"a.yaml": CM % ("a", "1")})
    code = ("import json,sys; from ansible_collections.gitops.core.plugins.module_utils.source.desired_state "
            "import fetch_desired_state as f; from local_runner import local_runner; "
            "print(f(json.loads(sys.argv[1]), local_runner)['commit'])")
    params = json.dumps({"repo": repo.url, "dest": str(tmp_path / "cache")})
    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(here.parents[1] / ".collections"), str(here)]))
    procs = [subprocess.Popen([os.sys.executable, "-c", code, params], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _run in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len({out.strip() for out, err in outs}) == 1


# ---------------------------------------------------------------- signatures


@lockstep.case
def test_gpg_signed_head_is_verified(repo, gds, keys):
    repo.commit({"a.yaml": CM % ("a", "1")}, signer="alice")
    r = ok(gds(repo=repo.url, verify="head", gpg_keys=[keys.gpg_public("alice")]))
    assert r["signature"] == {"verified": True, "format": "gpg", "signer": "Alice <alice@example.com>",
                              "key": keys.fingerprint("alice")}


@lockstep.case
def test_ssh_signed_head_is_verified(repo, gds, keys):
    repo.commit({"a.yaml": CM % ("a", "1")}, signer="bob")
    r = ok(gds(repo=repo.url, verify="head", allowed_signers=keys.allowed_signers))
    assert r["signature"]["format"] == "ssh" and r["signature"]["signer"] == "bob@example.com"
    assert r["signature"]["key"].startswith("SHA256:")


@lockstep.case
def test_gpg_and_ssh_keys_may_be_trusted_at_once(repo, gds, keys, tmp_path):
    signers = tmp_path / "allowed_signers"
    signers.write_text(keys.allowed_signers)
    pub = tmp_path / "alice.asc"
    pub.write_text(keys.gpg_public("alice"))
    repo.commit({"a.yaml": CM % ("a", "1")}, signer="bob")
    both = {"gpg_keys": [str(pub)], "allowed_signers": str(signers)}
    assert ok(gds(repo=repo.url, verify="head", **both))["signature"]["format"] == "ssh"
    repo.commit({"a.yaml": CM % ("a", "2")}, signer="alice")
    assert ok(gds(repo=repo.url, verify="head", **both))["signature"]["format"] == "gpg"


@lockstep.case
def test_head_without_a_trusted_signature_is_refused(repo, gds, keys):
    cases = [(None, "is not signed"), ("mallory", "which is not among gpg_keys"),
             ("eve", "which is not in allowed_signers")]
    shas = [repo.commit({"a.yaml": CM % ("a", str(n))}, signer=signer, branch="b%d" % n)
            for n, (signer, _f) in enumerate(cases)]
    results = gds.each(*({"repo": repo.url, "version": "b%d" % n, "verify": "head",
                          "gpg_keys": [keys.gpg_public("alice")], "allowed_signers": keys.allowed_signers}
                         for n in range(len(cases))))
    for result, sha, (_signer, fragment) in zip(results, shas, cases):
        assert "objects" not in failed(result, "commit %s: " % sha[:12], fragment)


@lockstep.case
def test_signed_annotated_tag_is_verified(repo, gds, keys):
    sha = repo.commit({"a.yaml": CM % ("a", "1")})
    repo.tag("v1.0", signer="bob")
    r = ok(gds(repo=repo.url, version="v1.0", verify="tag", allowed_signers=keys.allowed_signers))
    assert (r["commit"], r["signature"]["signer"]) == (sha, "bob@example.com")


@lockstep.case
def test_tag_policy_refusals(repo, gds, keys):
    repo.commit({"a.yaml": CM % ("a", "1")}, signer="bob")
    repo.tag("unsigned")
    repo.tag("light", annotated=False)
    repo.tag("eves", signer="eve")
    cases = [("unsigned", "tag unsigned: it is not signed"), ("light", "tag 'light' is a lightweight tag"),
             ("eves", "tag eves: signed with SSH key"), ("main", "version 'main' is not a tag")]
    results = gds.each(*({"repo": repo.url, "version": version, "verify": "tag",
                          "allowed_signers": keys.allowed_signers} for version, _f in cases))
    for result, (_version, fragment) in zip(results, cases):
        failed(result, fragment)


@lockstep.case
def test_verify_all_requires_every_commit_since_the_baseline(repo, gds, keys):
    trust = {"gpg_keys": [keys.gpg_public("alice")], "allowed_signers": keys.allowed_signers}
    repo.commit({"a.yaml": CM % ("a", "1")}, signer="bob")
    unsigned = repo.commit({"a.yaml": CM % ("a", "2")})
    repo.commit({"a.yaml": CM % ("a", "3")}, signer="alice")
    refused, head = gds.each(dict(repo=repo.url, verify="all", **trust),
                             dict(repo=repo.url, verify="all", verify_since=unsigned, **trust))
    failed(refused, "commit %s (verify=all" % unsigned[:12], "is not signed")
    ok(head)
    # the cache remembers the last verified commit: later runs check only what is new
    after = repo.commit({"a.yaml": CM % ("a", "4")}, signer="bob")
    assert ok(gds(repo=repo.url, verify="all", **trust))["commit"] == after
    bad = repo.commit({"a.yaml": CM % ("a", "5")}, signer="eve")
    failed(gds(repo=repo.url, verify="all", **trust), "commit %s" % bad[:12], "not in allowed_signers")
    assert head["signature"]["signer"] == "Alice <alice@example.com>"


@lockstep.case
def test_rewritten_history_after_a_verified_commit_is_refused_under_verify_all(repo, gds, keys):
    repo.commit({"a.yaml": CM % ("a", "1")}, signer="bob")
    verified = repo.commit({"a.yaml": CM % ("a", "2")}, signer="bob")
    ok(gds(repo=repo.url, verify="all", allowed_signers=keys.allowed_signers))
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.commit({"a.yaml": CM % ("a", "forced")}, signer="bob")  # force-pushed over the verified commit
    failed(gds(repo=repo.url, verify="all", allowed_signers=keys.allowed_signers),
           "verify_since %s is not an ancestor" % verified[:12], "history rewritten?")


@lockstep.case
def test_verify_since_must_be_a_known_commit(repo, gds, keys):
    repo.commit({"a.yaml": CM % ("a", "1")}, signer="bob")
    failed(gds(repo=repo.url, verify="all", verify_since="0123456789abcdef0123456789abcdef01234567",
               allowed_signers=keys.allowed_signers), "is not a commit of this repository")


@lockstep.case
def test_verify_without_keys_is_refused(repo, gds):
    repo.commit({"a.yaml": CM % ("a", "1")})
    failed(gds(repo=repo.url, verify="head"), "verify=head needs trusted keys")


# ---------------------------------------------------------------- credentials

TOKEN = "tok-3xtr4-s3cr3t-Z9"


@lockstep.fixture
def http_repo(repo):
    repo.commit({"a.yaml": CM % ("a", "1")})
    server = GitHttpServer(repo.bare.parent, "deploy-bot", TOKEN)
    yield repo, f"{server.base}/{repo.bare.name}"
    server.close()


def assert_no_secret(result, cache_dir=None):
    assert TOKEN not in json.dumps(result)
    if cache_dir:
        for path in Path(cache_dir).rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


@lockstep.case
def test_https_token_fetches_and_is_never_shown_or_stored(http_repo, gds):
    repo, url = http_repo
    r = ok(gds(repo=url, username="deploy-bot", password=TOKEN))
    assert r["source"]["repo"] == url and r["object_count"] == 1
    assert_no_secret(r, r["cache_dir"])
    assert url not in (Path(r["cache_dir"]) / ".git" / "config").read_text()


@lockstep.case
def test_credentials_inside_the_url_are_split_off(http_repo, gds):
    _repo, url = http_repo
    with_creds = url.replace("http://", f"http://deploy-bot:{TOKEN}@")
    r = ok(gds(repo=with_creds))
    assert r["source"]["repo"] == url
    assert_no_secret(r, r["cache_dir"])


@lockstep.case
def test_wrong_token_is_an_authentication_failure_without_the_token(http_repo, gds):
    _repo, url = http_repo
    wrong = TOKEN + "-wrong"
    r, anonymous = gds.each({"repo": url.replace("http://", f"http://deploy-bot:{wrong}@")}, {"repo": url})
    failed(r, "authentication failed")
    assert wrong not in json.dumps(r) and TOKEN not in json.dumps(r)
    failed(anonymous, "authentication failed")


# ------------------------------------------------------------------ the remote stalls or disappears

class ServerProcess:
    """gitfixtures.GitHttpServer in a process of its own (git_http_process.py): stop, continue, kill."""

    def __init__(self, root: Path, port: int = 0):
        script = Path(__file__).parent / "git_http_process.py"
        self.proc = subprocess.Popen([sys.executable, str(script), str(root), "deploy-bot", TOKEN, str(port)],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def signal(self, sig) -> None:
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.mark.fault
def test_a_stalled_or_vanished_remote_fails_clearly_and_the_cache_stays_usable(repo, gds, ansible_playbook, tmp_path):
    repo.commit({"a.yaml": CM % ("a", "1")})
    server = ServerProcess(repo.bare.parent)
    url = f"http://deploy-bot:{TOKEN}@127.0.0.1:{server.port}/{repo.bare.name}"
    try:
        first = ok(gds(repo=url, stall_timeout=3))
        second_commit = repo.commit({"a.yaml": CM % ("a", "2")})

        # the network stalls: the server process is stopped; connections are accepted, nothing comes back
        server.signal(signal.SIGSTOP)
        started = time.monotonic()
        r = gds(repo=url, stall_timeout=3)
        took = time.monotonic() - started
        failed(r, "stalled")
        assert took < 30, took
        assert TOKEN not in json.dumps(r)

        # the remote disappears while a fetch is waiting on it
        running = ansible_playbook.start(
            """
- hosts: localhost
  gather_facts: false
  tasks:
    - gitops.core.git_desired_state: {repo: "%s", dest: "%s", stall_timeout: 30}
      register: r
      ignore_errors: true
""" % (url, tmp_path / "cache"))
        time.sleep(3)
        server.kill()
        gone = running.wait(timeout=120).results["r"]
        assert gone["failed"] and "127.0.0.1:%d" % server.port in gone["msg"], gone["msg"]
        assert TOKEN not in json.dumps(gone)
    finally:
        server.kill()

    # back on the same port: the next run fetches into the same cache and gets the new commit
    server = ServerProcess(repo.bare.parent, port=server.port)
    try:
        back = ok(gds(repo=url, stall_timeout=3))
        assert back["cache_dir"] == first["cache_dir"] and back["commit"] == second_commit
        sh("git", "-C", back["cache_dir"], "fsck", "--no-progress")
    finally:
        server.kill()
