"""A sets declaration (source/sets.py): every refusal names the file, the line and the field; defaults
fill what a set leaves out; waves follow dependencies in the declaration's order.  Then the whole
sets_file path of git_desired_state (fetch_desired_state) on real local repositories: sets of the root
repository, a set of a second repository fetched once, and a second repository refused by its rule."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from ansible_collections.gitops.core.plugins.module_utils.cluster import set_args
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import load_one
from ansible_collections.gitops.core.plugins.module_utils.source import gitsource, sets
from ansible_collections.gitops.core.plugins.module_utils.source.desired_state import fetch_desired_state
from ansible_collections.gitops.core.plugins.modules import git_desired_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools.py, files.py of tests/unit/plugins/module_utils
import tools  # noqa: E402  pylint: disable=wrong-import-position
from files import write  # noqa: E402  pylint: disable=wrong-import-position

F = "clusters/prod/sets.yaml"
RESULT_KEYS = {"name", "depends_on", "objects", "sources", "revision", "source", "digest", "object_count", "namespace",
               "prune", "max_deletions", "wait", "wait_timeout", "ignore", "recreate", "adopt", "policy",
               "service_account", "impersonate_user", "impersonate_groups", "inventory_namespace", "signature", "charts"}


def parse(text, root=None, trusted=("team-keys",), credentials=("team-ro",)):
    return sets.parse(text, F, root=root, trusted_keys=trusted, credentials=credentials)


def refused(text, message, **kw):
    """The declaration is refused with exactly `message` (after the file name)."""
    with pytest.raises(GitOpsError) as info:
        parse(text, **kw)
    assert info.value.message == "%s %s" % (F, message)


# ---------------------------------------------------------------- reading and defaults
def test_a_minimal_declaration_gets_every_default():
    decl = parse("name: prod\nsets:\n  - name: crds\n")
    assert (decl.name, decl.file, decl.prune, decl.max_deletions) == ("prod", F, False, None)
    only = decl.sets[0]
    assert only._asdict() == dict(
        name="crds", path=["."], render="auto", helm={}, template_vars={}, recursive=True, include=None, exclude=[],
        namespace="default", depends_on=[], prune=True, max_deletions=None, wait=True, wait_timeout=300, ignore=[],
        recreate=False, adopt=False, policy=None, service_account=None, impersonate_user=None, impersonate_groups=None,
        inventory_namespace=None, repo=None, line=3)


def test_defaults_fill_what_a_set_leaves_out_and_a_set_keeps_its_own():
    decl = parse("""name: prod
prune: true
max_deletions: 0
defaults:
  namespace: apps
  wait_timeout: 600
  policy: {namespaces: [apps]}
  service_account: apps/deployer
sets:
  - name: a
    path: [x, y]
  - name: b
    path: z
    namespace: web
    impersonate_user: ci
    impersonate_groups: [ops]
""")
    a, b = decl.sets
    assert (decl.prune, decl.max_deletions) == (True, 0)
    assert (a.path, a.namespace, a.wait_timeout, a.policy, a.service_account) == (
        ["x", "y"], "apps", 600, {"namespaces": ["apps"]}, "apps/deployer")
    # a set naming any identity takes none from defaults (no service_account beside its impersonate_user)
    assert (b.path, b.namespace, b.wait_timeout, b.service_account, b.impersonate_user, b.impersonate_groups) == (
        ["z"], "web", 600, None, "ci", ["ops"])
    a.policy["namespaces"].append("changed")
    assert decl.sets[1].policy == {"namespaces": ["apps"]}  # each set has its own copy of a default


def test_a_set_from_another_repository_names_the_plays_keys_and_credentials():
    decl = parse("""name: prod
sets:
  - name: team
    repo: {url: "https://git.example.com/team/app.git", version: main, verify: head, trust: team-keys,
           credentials: team-ro}
""")
    assert decl.sets[0].repo == sets.Repo("https://git.example.com/team/app.git", "main", "head", "team-keys", "team-ro")
    assert parse("name: p\nsets:\n  - {name: t, repo: {url: 'git@git.example.com:t/a.git'}}\n").sets[0].repo == \
        sets.Repo("git@git.example.com:t/a.git", None, "none", None, None)


# ---------------------------------------------------------------- refusals, each at its line and field
@pytest.mark.parametrize("text, message", [
    ("- name: a\n", "line 1: a sets declaration is a mapping (name, prune, max_deletions, defaults, sets), got a list"),
    ("", "line 1: is empty; a sets declaration has a name and sets"),
    ("name: a\nsets: []\n---\nname: b\n", "line 4: a second YAML document; the file must hold one"),
    ("sets: []\n", "line 1: name: is required"),
    ("name: prod\n", "line 1: sets: is required"),
    ("name: Prod\nsets: []\n",
     "line 1: name: 'Prod' is not a declaration name ([a-z0-9-], at most 40, a letter or digit at both ends)"),
    ("name: %s\nsets: []\n" % ("p" * 41),
     "line 1: name: '%s' is not a declaration name ([a-z0-9-], at most 40, a letter or digit at both ends)" % ("p" * 41)),
    ("name: p\nsets: []\nprun: true\n",
     "line 3: prun: unknown field; did you mean prune? (known: name, prune, max_deletions, sets, defaults)"),
    ("name: p\nprune: 'true'\nsets: []\n", "line 2: prune: must be true or false, got the string 'true'"),
    ("name: p\nmax_deletions: -1\nsets: []\n", "line 2: max_deletions: must be a whole number >= 0, got a number"),
    ("name: p\nmax_deletions: true\nsets: []\n", "line 2: max_deletions: must be a whole number >= 0, got a boolean"),
    ("name: p\nsets: {a: 1}\n", "line 2: sets: must be a list, got a mapping"),
    ("name: p\nsets:\n  - a\n", "line 3: sets[0]: must be a mapping, got the string 'a'"),
    ("name: p\ndefaults:\n  path: x\nsets: []\n", "line 3: defaults.path: unknown field (known: render, helm, "
     "template_vars, recursive, include, exclude, namespace, prune, max_deletions, wait, wait_timeout, ignore, "
     "recreate, adopt, policy, service_account, impersonate_user, impersonate_groups, inventory_namespace)"),
    ("name: p\ndefaults: {service_account: a/b, impersonate_user: c}\nsets: []\n",
     "line 2: defaults.impersonate_user: service_account and impersonate_user are mutually exclusive (one identity "
     "per set)"),
    ("name: p\nsets:\n  - path: x\n", "line 3: sets[0].name: is required"),
    ("name: p\nsets:\n  - name: Web_1\n",
     "line 3: sets[0].name: 'Web_1' is not a set name (^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$)"),
    ("name: p\nsets:\n  - name: a\n    dependson: [b]\n",
     "line 4: sets[0].dependson: unknown field; did you mean depends_on? (known: name, path, render, helm, "
     "template_vars, recursive, include, exclude, namespace, depends_on, prune, max_deletions, wait, wait_timeout, "
     "ignore, recreate, adopt, policy, service_account, impersonate_user, impersonate_groups, inventory_namespace, "
     "repo)"),
    ("name: p\nsets:\n  - name: a\n    wait: 'false'\n", "line 4: sets[0].wait: must be true or false, got the string 'false'"),
    ("name: p\nsets:\n  - name: a\n    wait_timeout: 0\n",
     "line 4: sets[0].wait_timeout: must be a whole number >= 1, got a number"),
    ("name: p\nsets:\n  - name: a\n    render: magic\n",
     "line 4: sets[0].render: must be one of auto, plain, jinja, kustomize, helm, got the string 'magic'"),
    ("name: p\nsets:\n  - name: a\n    depends_on: b\n", "line 4: sets[0].depends_on: must be a list, got the string 'b'"),
    ("name: p\nsets:\n  - name: a\n    namespace: 3\n", "line 4: sets[0].namespace: must be a non-empty string, got a number"),
    ("name: p\nsets:\n  - name: a\n    path: 5\n",
     "line 4: sets[0].path: must be a path or a non-empty list of paths, got a number"),
    ("name: p\nsets:\n  - name: a\n    path: /etc\n",
     "line 4: sets[0].path: '/etc' must be relative to the checkout root of the set's repository"),
    ("name: p\nsets:\n  - name: a\n    path:\n      - ok\n      - x/../../up\n",
     "line 6: sets[0].path[1]: 'x/../../up' leaves the checkout (..)"),
    ("name: p\nsets:\n  - name: a\n    helm: {value_files: [v.yaml]}\n",
     "line 4: sets[0].helm.value_files: unknown field; did you mean values_files? (known: release_name, "
     "release_namespace, values_files, release_values, include_crds, kube_version, api_versions, hooks, lookup, random, dependencies, "
     "dependency_credentials, binary, cache_dir, charts)"),
    ("name: p\nsets:\n  - name: a\n    helm:\n      charts:\n        - {release_name: x}\n",
     "line 6: sets[0].helm.charts[0].path: is required (or repository, chart and version for a fetched chart)"),
    ("name: p\nsets:\n  - name: a\n    ignore:\n      - {kind: Deployment, path: [spec.replicas]}\n",
     "line 5: sets[0].ignore[0].path: unknown field; did you mean paths? (known: group, kind, namespace, name, paths, "
     "managers)"),
    ("name: p\nsets:\n  - name: a\n    policy:\n      namespace: [a]\n",
     "line 5: sets[0].policy.namespace: unknown field; did you mean namespaces? (known: namespaces, cluster_kinds, "
     "denied_kinds)"),
    ("name: p\nsets:\n  - name: a\n    policy: {namespaces: a}\n",
     "line 4: sets[0].policy.namespaces: must be a list, got the string 'a'"),
    ("name: p\nsets:\n  - name: a\n    service_account: deployer\n",
     "line 4: sets[0].service_account: 'deployer' must be <namespace>/<name>"),
    ("name: p\nsets:\n  - name: a\n    service_account: ns/a/b\n",
     "line 4: sets[0].service_account: 'ns/a/b' must be <namespace>/<name>"),
    ("name: p\nsets:\n  - name: a\n    service_account: ns/d\n    impersonate_user: u\n",
     "line 5: sets[0].impersonate_user: service_account and impersonate_user are mutually exclusive (one identity per "
     "set)"),
    ("name: p\ndefaults: {service_account: ns/d}\nsets:\n  - name: a\n    impersonate_groups: [g]\n",
     "line 5: sets[0].impersonate_groups: needs service_account or impersonate_user (Kubernetes impersonates groups "
     "only with a user)"),
    ("name: p\nsets:\n  - name: a\n    repo: {version: main}\n", "line 4: sets[0].repo.url: is required"),
    ("name: p\nsets:\n  - name: a\n    repo:\n      url: https://h/r.git\n      branch: main\n",
     "line 6: sets[0].repo.branch: unknown field (known: url, version, verify, trust, credentials)"),
    ("name: p\nsets:\n  - name: a\n    repo:\n      url: https://bot:hunter22@h/r.git\n",
     "line 5: sets[0].repo.url: must not carry credentials; name the play's in repo.credentials"),
    ("name: p\nsets:\n  - name: a\n    repo:\n      url: ext::sh -c x\n",
     "line 5: sets[0].repo.url: repo uses a transport helper ('ext::'), which is refused"),
    ("name: p\nsets:\n  - name: a\n    repo:\n      url: ../team.git\n",
     "line 5: sets[0].repo.url: a local repository must be an absolute path or a file:// URL"),
    ("name: p\nsets:\n  - name: a\n    repo: {url: https://h/r.git, version: --upload-pack=x}\n",
     "line 4: sets[0].repo.version: version '--upload-pack=x' must not start with '-' (it would be read as a git option)"),
    ("name: p\nsets:\n  - name: a\n    repo: {url: https://h/r.git, verify: signed}\n",
     "line 4: sets[0].repo.verify: must be one of none, head, tag, all, got the string 'signed'"),
    ("name: p\nsets:\n  - name: a\n    repo:\n      url: https://h/r.git\n      verify: head\n",
     "line 6: sets[0].repo.verify: head needs repo.trust (a key set of the play's trusted_keys)"),
    ("name: p\nsets:\n  - name: a\n    repo:\n      url: https://h/r.git\n      verify: tag\n      trust: team-keys\n",
     "line 6: sets[0].repo.verify: tag needs repo.version to name an annotated tag"),
    ("name: p\nsets:\n  - name: a\n    repo:\n      url: https://h/r.git\n      verify: head\n      trust: teamkeys\n",
     "line 7: sets[0].repo.trust: 'teamkeys' is not among the play's trusted_keys (team-keys); keys and credentials "
     "are named in Git, never written there"),
    ("name: p\nsets:\n  - name: a\n    repo:\n      url: https://h/r.git\n      credentials: admin\n",
     "line 6: sets[0].repo.credentials: 'admin' is not among the play's credentials (team-ro); keys and credentials "
     "are named in Git, never written there"),
])
def test_each_refusal_names_the_line_and_the_field(text, message):
    refused(text, message)


def test_a_key_set_is_refused_when_the_play_gives_none():
    refused("name: p\nsets:\n  - name: a\n    repo: {url: https://h/r.git, verify: all, trust: t}\n",
            "line 4: sets[0].repo.trust: 't' is not among the play's trusted_keys (none given); keys and credentials "
            "are named in Git, never written there", trusted=())


SETS = """name: prod
sets:
  - name: a
    depends_on: []
  - name: b
    depends_on: [a]
  - name: %s
    depends_on: [%s]
"""


@pytest.mark.parametrize("name, deps, message", [
    ("a", "b", "line 7: sets[2].name: set 'a' is declared twice (first at line 3)"),
    ("c", "a, dbx", "line 8: sets[2].depends_on[1]: unknown set 'dbx'"),
    ("c", "c", "line 8: sets[2].depends_on[0]: set 'c' depends on itself"),
    ("c", "a, b, a", "line 8: sets[2].depends_on[2]: 'a' is listed twice"),
])
def test_names_and_dependencies_are_checked_across_sets(name, deps, message):
    refused(SETS % (name, deps), message)


def test_a_cycle_is_named_in_order_at_the_dependency_that_closes_it():
    refused("""name: prod
sets:
  - name: free
  - name: a
    depends_on: [free, b]
  - name: b
    depends_on: [c]
  - name: c
    depends_on:
      - a
""", "line 5: sets[1].depends_on[1]: dependency cycle: a -> b -> c -> a")


def test_yaml_itself_is_read_with_the_projects_limits():
    with pytest.raises(GitOpsError, match=r"sets.yaml, document 1: duplicate key 'name' at line 2 \(first at line 1\)"):
        parse("name: a\nname: b\nsets: []\n")
    bomb = "name: p\nsets: []\nx: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        "%s: &%s [%s]\n" % (n, n, ", ".join(["*" + p] * 10)) for p, n in zip("abcdefg", "bcdefgh"))
    with pytest.raises(GitOpsError, match=r"YAML aliases expand to more than 1000000 nodes"):
        parse(bomb)
    with pytest.raises(GitOpsError, match=r"a !vault value \(Ansible Vault\) at line 3"):
        parse("name: p\nsets: []\nx: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n")
    assert load_one("a:\n  - {b: 1}\n", "f") == ({"a": [{"b": 1}]}, {(): 1, ("a",): 1, ("a", 0): 2, ("a", 0, "b"): 2})


def test_paths_of_root_repository_sets_must_exist_and_stay_inside_it_through_symlinks(tmp_path):
    write(tmp_path, "apps/cm.yaml", "")
    os.symlink("/etc", tmp_path / "escape")
    os.symlink("apps", tmp_path / "alias")
    assert parse("name: p\nsets:\n  - {name: a, path: [apps, alias]}\n", root=str(tmp_path)).sets[0].path == [
        "apps", "alias"]
    refused("name: p\nsets:\n  - name: a\n    path: [apps, escape]\n",
            "line 4: sets[0].path[1]: 'escape' resolves outside the repository (through a symlink)", root=str(tmp_path))
    refused("name: p\nsets:\n  - name: a\n    path: nope\n",
            "line 4: sets[0].path: 'nope' does not exist in the repository", root=str(tmp_path))
    # a set of another repository: only the text of its path here, the rest after its checkout
    assert parse("name: p\nsets:\n  - {name: a, path: escape, repo: {url: /srv/git/x.git}}\n",
                 root=str(tmp_path)).sets[0].path == ["escape"]


# ---------------------------------------------------------------- waves
def waves(text):
    return sets.waves(parse(text).sets)


def test_waves_of_a_diamond_independent_sets_and_a_stable_order():
    assert waves("""name: p
sets:
  - {name: top, depends_on: [left, right]}
  - {name: right, depends_on: [base]}
  - {name: left, depends_on: [base]}
  - {name: base}
""") == [["base"], ["right", "left"], ["top"]]
    assert waves("name: p\nsets: [{name: z}, {name: y}, {name: x}]\n") == [["z", "y", "x"]]
    assert waves("name: p\nsets: []\n") == []


def test_waves_refuse_a_cycle_named_in_order():
    looped = [sets.DeclaredSet(**dict(parse("name: p\nsets: [{name: n}]\n").sets[0]._asdict(), name=n, depends_on=d))
              for n, d in (("a", ["b"]), ("b", ["c"]), ("c", ["a"]))]
    with pytest.raises(GitOpsError, match=r"^dependency cycle: a -> b -> c -> a$"):
        sets.waves(looped)


# ---------------------------------------------------------------- the cluster side takes what we give
def test_the_shapes_match_the_cluster_modules_sets_and_declaration_options():
    assert RESULT_KEYS <= set(set_args.SET_OPTIONS)
    assert sets.IGNORE_SPEC == set_args.IGNORE_OPTIONS
    assert sets.POLICY_SPEC == set_args.POLICY_OPTIONS
    declaration = set_args.set_argument_spec()["declaration"]["options"]
    assert set(declaration) == {"name", "file", "prune", "max_deletions", "sets"}


# ---------------------------------------------------------------- git_desired_state with sets_file
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Dev",
           "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {k: v}\n"
CRD = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: gadgets.example.com}\n"
       "spec: {group: example.com}\n")


def git(cwd, *args, env=None):
    code, out, err = tools.run(["git", *args], cwd=str(cwd), env=dict(GIT_ENV, **(env or {})))
    assert code == 0, err.decode()
    return out.decode().strip()


def repository(path, files, sign=None):
    """A repository at `path` holding `files` in one commit (signed with `sign` = (fingerprint, GnuPG home))."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for rel, text in files.items():
        write(path, rel, text)
    git(path, "add", "-A")
    if sign:
        git(path, "-c", "gpg.format=openpgp", "-c", "user.signingkey=%s" % sign[0], "commit", "-q", "-S", "-m", "one",
            env={"GNUPGHOME": sign[1]})
    else:
        git(path, "commit", "-q", "-m", "one")
    return git(path, "rev-parse", "HEAD")


def params(root, **extra):
    out = {name: spec.get("default") for name, spec in git_desired_state.argument_spec().items()}
    out.update(repo=str(root), sets_file=F, dest=str(root.parent / "cache-root"))
    out.update(extra)
    return out


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Other repositories' default caches under the test's folder, never the user's."""
    monkeypatch.setattr(gitsource, "DEFAULT_CACHE", str(tmp_path / "caches"))
    return tmp_path / "caches"


DECLARATION = """name: prod
defaults: {namespace: apps}
sets:
  - name: crds
    path: crds
  - name: apps
    path: [apps]
    depends_on: [crds]
    wait_timeout: 60
    policy: {namespaces: [apps]}
    service_account: apps/deployer
  - name: team
    path: web
    depends_on: [apps]
    prune: false
    repo:
      url: %s
      version: main
      credentials: team-ro
"""


def test_sets_of_the_root_repository_and_of_a_second_one_fetched_once(tmp_path, caches):
    team = tmp_path / "team"
    team_commit = repository(team, {"web/cm.yaml": CM % ("web", "team-a"), "web/other.yaml": CM % ("other", "team-a")})
    root = tmp_path / "platform"
    root_commit = repository(root, {F: DECLARATION % team, "crds/gadgets.yaml": CRD,
                                    "apps/cm.yaml": CM % ("app", "apps"), "elsewhere/cm.yaml": CM % ("no", "x")})
    calls = []

    def runner(args, **kw):
        calls.append(args)
        return tools.run(args, **kw)

    secret = "t0ken-never-shown"
    given = params(root, credentials={"team-ro": {"username": "bot", "password": secret}})
    out = fetch_desired_state(given, runner)
    assert secret not in repr(out)
    assert (out["commit"], out["objects"], out["object_count"], out["sources"]) == (root_commit, [], 4, [])
    assert out["declaration"] == {"name": "prod", "file": F, "prune": False, "max_deletions": None,
                                  "sets": ["crds", "apps", "team"]}
    assert out["files"] == [F, "crds/gadgets.yaml", "apps/cm.yaml"]
    assert out["source"] == {"repo": str(root), "path": [F], "commit": root_commit}
    crds, apps, web = out["sets"]
    for entry in out["sets"]:
        assert set(entry) == RESULT_KEYS
    assert [o["metadata"]["name"] for o in crds["objects"]] == ["gadgets.example.com"]
    assert crds["sources"] == [{"ref": "apiextensions.k8s.io/CustomResourceDefinition gadgets.example.com",
                                "file": "crds/gadgets.yaml", "document": 1}]
    assert {k: crds[k] for k in RESULT_KEYS - {"objects", "sources", "digest"}} == dict(
        name="crds", depends_on=[], revision=root_commit, object_count=1,
        source={"repo": str(root), "path": ["crds"], "commit": root_commit, "subject": crds["source"]["subject"],
                "commit_date": crds["source"]["commit_date"]}, namespace="apps", prune=True,
        max_deletions=None, wait=True, wait_timeout=300, ignore=[], recreate=False, adopt=False, policy=None,
        service_account=None, impersonate_user=None, impersonate_groups=None, inventory_namespace=None,
        signature={"verified": False, "format": None, "signer": None, "key": None}, charts=[])
    assert (apps["depends_on"], apps["wait_timeout"], apps["policy"], apps["service_account"]) == (
        ["crds"], 60, {"namespaces": ["apps"]}, "apps/deployer")
    assert [o["metadata"]["name"] for o in web["objects"]] == ["web", "other"]
    assert (web["revision"], web["source"], web["prune"]) == (
        team_commit, {"repo": str(team), "path": ["web"], "commit": team_commit, "subject": web["source"]["subject"],
                      "commit_date": web["source"]["commit_date"]}, False)
    assert web["source"]["subject"] and web["source"]["commit_date"] and web["source"]["subject"] != "None"
    assert sets.waves(parse(DECLARATION % team).sets) == [["crds"], ["apps"], ["team"]]
    # each repository resolved and fetched once; the second one in a cache of its own
    remotes = [a[a.index("ls-remote") + 3] for a in calls if "ls-remote" in a]
    assert remotes == [str(root), str(team)]
    key = gitsource.RepoUrl(str(team)).cache_key
    assert sorted(os.listdir(caches)) == [key, key + ".lock"]
    again = fetch_desired_state(given, tools.run)
    assert again["changed"] is False and again["digest"] == out["digest"] and again["sets"] == out["sets"]


def test_several_sets_of_one_repository_share_its_fetch_and_an_object_in_two_sets_is_refused(tmp_path, caches):
    team = tmp_path / "team"
    repository(team, {"a/cm.yaml": CM % ("a", "t"), "b/cm.yaml": CM % ("b", "t"), "both/cm.yaml": CM % ("a", "t"),
                      "bare/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
    root = tmp_path / "platform"
    text = "name: prod\nsets:\n" + "".join("  - {name: %s, path: [%s], repo: {url: %s}}\n" % (n, p, team)
                                           for n, p in (("one", "a"), ("two", "b")))
    repository(root, {F: text})
    calls = []
    out = fetch_desired_state(params(root), lambda args, **kw: calls.append(args) or tools.run(args, **kw))
    assert [s["object_count"] for s in out["sets"]] == [1, 1]
    assert len([a for a in calls if "ls-remote" in a]) == 2  # the root repository, then the team's once
    write(root, F, text.replace("[b]", "[b, bare]"))  # ConfigMap a in two sets, but in namespace default in the second
    git(root, "commit", "-q", "-am", "two")
    assert [s["object_count"] for s in fetch_desired_state(params(root), tools.run)["sets"]] == [1, 2]
    write(root, F, text.replace("[b]", "[b, both]"))
    git(root, "commit", "-q", "-am", "three")
    with pytest.raises(GitOpsError, match=r"^ConfigMap t/a is declared by two sets: 'one' \(a/cm.yaml document 1\) "
                                          r"and 'two' \(both/cm.yaml document 1\)$"):
        fetch_desired_state(params(root), tools.run)


def test_a_missing_declaration_a_failing_set_and_an_unreachable_repository_are_named(tmp_path, caches):
    root = tmp_path / "platform"
    commit = repository(root, {"apps/cm.yaml": CM % ("a", "b"), "apps/bad.yaml": "kind: ConfigMap\n"})
    with pytest.raises(GitOpsError, match=r"^sets_file clusters/prod/sets.yaml is not a file of the repository at "
                                          r"commit %s$" % commit[:12]):
        fetch_desired_state(params(root), tools.run)
    write(root, F, "name: prod\nsets:\n  - {name: apps, path: apps}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "two")
    with pytest.raises(GitOpsError, match=r"^set 'apps': apps/bad.yaml, document 1: apiVersion is missing$"):
        fetch_desired_state(params(root), tools.run)
    gone = tmp_path / "gone"
    write(root, F, "name: prod\nsets:\n  - {name: far, repo: {url: %s, credentials: ro}}\n" % gone)
    git(root, "commit", "-q", "-am", "three")
    secret = "hunter2-but-longer"
    with pytest.raises(GitOpsError) as info:
        fetch_desired_state(params(root, credentials={"ro": {"username": "u", "password": secret}}), tools.run)
    assert info.value.message.startswith("set 'far' (repository %s): git ls-remote failed for %s: " % (gone, gone))
    assert secret not in info.value.message


def test_a_path_of_another_repository_leaving_its_checkout_through_a_symlink_is_refused(tmp_path, caches):
    team = tmp_path / "team"
    repository(team, {"ok.yaml": CM % ("a", "b")})
    os.symlink("/etc", team / "escape")
    git(team, "add", "-A")
    git(team, "commit", "-q", "-m", "link")
    root = tmp_path / "platform"
    repository(root, {F: "name: prod\nsets:\n  - {name: far, path: escape, repo: {url: %s}}\n" % team})
    with pytest.raises(GitOpsError, match=r"^set 'far' \(repository %s\): path 'escape' resolves outside the "
                                          r"repository$" % team):
        fetch_desired_state(params(root), tools.run)


@pytest.mark.skipif(not shutil.which("gpg"), reason="needs gnupg")
def test_a_second_repository_is_held_to_its_own_rule_with_the_named_keys(tmp_path, caches):
    with tools.gpg_key() as (fingerprint, public, _secret, home):
        signed, unsigned = tmp_path / "signed", tmp_path / "unsigned"
        repository(signed, {"cm.yaml": CM % ("s", "t")}, sign=(fingerprint, home))
        repository(unsigned, {"cm.yaml": CM % ("u", "t")})
        root = tmp_path / "platform"
        text = ("name: prod\nsets:\n  - name: good\n    repo: {url: %s, verify: head, trust: team}\n"
                "  - name: bad\n    depends_on: [good]\n    repo: {url: %s, verify: head, trust: team}\n"
                % (signed, unsigned))
        repository(root, {F: text})
        given = params(root, trusted_keys={"team": {"gpg_keys": [public]}})
        with pytest.raises(GitOpsError) as info:
            fetch_desired_state(given, tools.run)
        assert info.value.message.startswith("set 'bad' (repository %s): commit " % unsigned)
        assert info.value.message.endswith(": it is not signed")
        write(root, F, text.replace("  - name: bad\n    depends_on: [good]\n    repo: {url: %s, verify: head, trust: "
                                    "team}\n" % unsigned, ""))
        git(root, "commit", "-q", "-am", "only the signed one")
        out = fetch_desired_state(given, tools.run)
        assert out["signature"]["verified"] is False  # the root repository's own rule: verify none
        assert out["sets"][0]["signature"] == {"verified": True, "format": "gpg", "signer": "Ops <ops@example.com>",
                                               "key": fingerprint}


def test_the_module_hides_credential_passwords_and_nothing_else():
    class Module:
        params = {"credentials": {"a": {"username": "git", "password": "pw-123456"}, "b": {"key_file": "/k"}}}
        no_log_values = set()

    git_desired_state.hide_credential_passwords(Module)
    assert Module.no_log_values == {"pw-123456"}


def vaulted(plain, password):
    from ansible.parsing.vault import VaultLib, VaultSecret
    secret = VaultSecret(password.encode())
    text = VaultLib([("default", secret)]).encrypt(plain, secret).decode()
    return "!vault |\n" + "".join("      %s\n" % line for line in text.splitlines())


def test_root_sets_are_decrypted_and_marked_and_another_repositorys_are_not_decrypted(tmp_path, caches):
    pytest.importorskip("cryptography")
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: a}\ndata:\n  token: %s"
    team = tmp_path / "team"
    repository(team, {"cm.yaml": doc % ("far", vaulted("far-secret-value", "pw"))})
    root = tmp_path / "platform"
    text = "name: prod\nsets:\n  - {name: here, path: cm.yaml}\n"
    repository(root, {F: text, "cm.yaml": doc % ("near", vaulted("near-secret-value", "pw"))})
    given = params(root, decryption={"vault_secrets": [{"id": "default", "secret": "pw"}]})
    here = fetch_desired_state(given, tools.run)["sets"][0]["objects"][0]
    assert here["data"]["token"] == "near-secret-value"
    assert here["metadata"]["annotations"]["gitops.core/decrypted-fields"] == '["data.token"]'
    write(root, F, text + "  - {name: far, path: cm.yaml, repo: {url: %s}}\n" % team)
    git(root, "commit", "-q", "-am", "two")
    with pytest.raises(GitOpsError, match=r"^set 'far' \(repository %s\): cm.yaml, document 1: a !vault value .*; the "
                                          r"play's decryption keys are given to the sets of the root repository only$"
                       % team):
        fetch_desired_state(given, tools.run)
