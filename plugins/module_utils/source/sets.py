# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A sets declaration: one YAML file of the root repository (git_desired_state's `sets_file`) that
lists a cluster's sets, read and checked before any set is rendered.  docs/sets.md has every field.

    name: prod                # [a-z0-9-], at most 40; its inventory is ConfigMap gitops-sets-<name>
    prune: false              # prune whole a set that has left the file (default: abandoned, reported)
    max_deletions: 200        # cap on objects deleted when pruning removed sets (absent: none)
    defaults: {namespace: apps}   # any set field but name, depends_on, path and repo
    sets:
      - name: crds            # ^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$, unique
        path: crds            # a path or a list, relative to the set's checkout root; default ["."]
      - name: web
        depends_on: [crds]    # sets of this file, no cycle
        path: [apps/web]      # + render, helm, template_vars, recursive, include, exclude: as
                              #   git_desired_state's options of the same names
        namespace: web        # + prune, max_deletions, wait, wait_timeout, ignore, recreate, adopt,
                              #   policy {namespaces, cluster_kinds, denied_kinds}, service_account
                              #   (ns/name) or impersonate_user, impersonate_groups, inventory_namespace
        repo: {url: https://git.example.com/team/web.git, version: main, verify: head,
               trust: team-keys, credentials: team-ro}   # NAMES of the play's trusted_keys, credentials

Every error names the file, the line and the field, e.g. `clusters/prod/sets.yaml line 12:
sets[1].depends_on[0]: unknown set 'dbx'`.  `defaults` fill what a set leaves out; a set that gives
any identity field (service_account, impersonate_user, impersonate_groups) takes none from them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import re
from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.common import fields as f
from ansible_collections.gitops.core.plugins.module_utils.common import graph, paths
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import DECLARATION_NAME_PATTERN, SET_NAME_PATTERN
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import load_one
from ansible_collections.gitops.core.plugins.module_utils.source import helm, manifests, remote_charts
from ansible_collections.gitops.core.plugins.module_utils.source.gitsource import RepoUrl, check_version
from ansible_collections.gitops.core.plugins.module_utils.source.signatures import VERIFY_MODES

RENDERS = ("auto", "plain", "jinja", "kustomize", "helm")
IDENTITY = ("service_account", "impersonate_user", "impersonate_groups")
NOT_DEFAULTS = ("name", "depends_on", "path", "repo")
_SET_NAME, _DECLARATION_NAME = re.compile(SET_NAME_PATTERN), re.compile(DECLARATION_NAME_PATTERN)
_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")


def _paths(value, path):
    items = value if isinstance(value, list) else [value]
    if not items or not isinstance(value, (str, list)):
        raise f.Invalid(path, "must be a path or a non-empty list of paths, got %s" % f.shown(value))
    for index, item in enumerate(items):
        where = tuple(path) + ((index,) if isinstance(value, list) else ())
        f.text(item, where)
        if "\0" in item or os.path.isabs(item) or item.startswith("~"):
            raise f.Invalid(where, "'%s' must be relative to the checkout root of the set's repository" % item)
        if os.path.normpath(item).split(os.sep)[0] == "..":
            raise f.Invalid(where, "'%s' leaves the checkout (..)" % item)
    return list(items)


def _service_account(value, path):
    if _SERVICE_ACCOUNT.match(f.text(value, path)):
        return value
    raise f.Invalid(path, "'%s' must be <namespace>/<name>" % value)


def _repo_url(value, path):
    url = RepoUrl(f.text(value, path))
    if url.password or (url.kind in ("http", "https") and url.username):
        raise f.Invalid(path, "must not carry credentials; name the play's in repo.credentials")
    if url.kind == "path" and not os.path.isabs(value):
        raise f.Invalid(path, "a local repository must be an absolute path or a file:// URL")
    return value


# drift_check's ignore rules and a set's policy, as the cluster modules' option `sets` takes them
# (cluster/set_args.py: IGNORE_OPTIONS, POLICY_OPTIONS; a unit test keeps them equal)
IGNORE_SPEC = dict(group=dict(type="str"), kind=dict(type="str"), namespace=dict(type="str"), name=dict(type="str"),
                   paths=dict(type="list", elements="str"), managers=dict(type="list", elements="str"))
POLICY_SPEC = dict(namespaces=dict(type="list", elements="str"), cluster_kinds=dict(type="list", elements="str"),
                   denied_kinds=dict(type="list", elements="str"))
Repo = namedtuple("Repo", "url version verify trust credentials")
_REPO = f.fields(dict(url=f.guarded(_repo_url), version=f.guarded(lambda v, p: check_version(f.text(v, p))),
                      verify=f.choice(*VERIFY_MODES), trust=f.text, credentials=f.text), ["url"])
# field: (check, default), in the order of git_desired_state's `sets` result
SET_FIELDS = dict(
    name=(f.text, None), path=(_paths, ["."]), render=(f.choice(*RENDERS), "auto"),
    helm=(f.from_spec(helm.option_spec()), {}), template_vars=(f.mapping, {}), recursive=(f.flag, True),
    include=(f.texts, None), exclude=(f.texts, []), namespace=(f.text, "default"), depends_on=(f.texts, []),
    prune=(f.flag, True), max_deletions=(f.count(0, nullable=True), None), wait=(f.flag, True),
    wait_timeout=(f.count(1), 300), ignore=(f.list_of(f.from_spec(IGNORE_SPEC)), []), recreate=(f.flag, False),
    adopt=(f.flag, False), policy=(f.from_spec(POLICY_SPEC), None),
    service_account=(_service_account, None), impersonate_user=(f.text, None), impersonate_groups=(f.texts, None),
    inventory_namespace=(f.text, None), repo=(_REPO, None))
DeclaredSet = namedtuple("DeclaredSet", list(SET_FIELDS) + ["line"])
Declaration = namedtuple("Declaration", "name file prune max_deletions sets")
_SET = f.fields(dict((key, check) for key, (check, _default) in SET_FIELDS.items()), ["name"])
_TOP = f.fields(dict(name=f.text, prune=f.flag, max_deletions=f.count(0, nullable=True), sets=f.list_of(f.mapping),
                     defaults=f.fields(dict((key, check) for key, (check, _default) in SET_FIELDS.items()
                                            if key not in NOT_DEFAULTS))), ["name", "sets"])


def _identity(given, path):
    if given.get("service_account") and given.get("impersonate_user"):
        raise f.Invalid(path + ("impersonate_user",), "service_account and impersonate_user are mutually exclusive "
                                                      "(one identity per set)")
    if given.get("impersonate_groups") and not (given.get("service_account") or given.get("impersonate_user")):
        raise f.Invalid(path + ("impersonate_groups",), "needs service_account or impersonate_user (Kubernetes "
                                                        "impersonates groups only with a user)")


def _repo(given, path, trusted, credentials):
    if given is None:
        return None
    repo = Repo(given["url"], given.get("version"), given.get("verify") or "none", given.get("trust"),
                given.get("credentials"))
    for key, names, option in (("trust", trusted, "trusted_keys"), ("credentials", credentials, "credentials")):
        name = getattr(repo, key)
        if name is not None and name not in names:
            raise f.Invalid(path + (key,), "'%s' is not among the play's %s (%s); keys and credentials are named in "
                                           "Git, never written there" % (name, option, ", ".join(sorted(names)) or "none given"))
    if repo.verify != "none" and not repo.trust:
        raise f.Invalid(path + ("verify",), "%s needs repo.trust (a key set of the play's trusted_keys)" % repo.verify)
    if repo.verify == "tag" and not repo.version:
        raise f.Invalid(path + ("verify",), "tag needs repo.version to name an annotated tag")
    return repo


def _in_checkout(root, rels, as_list, path):
    """Each path of a root-repository set exists in the checkout and resolves inside it (symlinks too)."""
    for index, rel in enumerate(rels):
        where = path + (("path", index) if as_list else ("path",))
        try:
            real = manifests.inside(root, rel)
        except GitOpsError:
            raise f.Invalid(where, "'%s' resolves outside the repository (through a symlink)" % rel)
        if not os.path.exists(real):
            raise f.Invalid(where, "'%s' does not exist in the repository" % rel)


def _one_set(raw, path, defaults, root, trusted, credentials):
    given = _SET(raw, path)
    if not _SET_NAME.match(given["name"]):
        raise f.Invalid(path + ("name",), "'%s' is not a set name (%s)" % (given["name"], SET_NAME_PATTERN))
    _identity(given, path)
    inherited = dict((k, v) for k, v in defaults.items() if not (k in IDENTITY and set(IDENTITY) & set(given)))
    entry = dict((key, copy.deepcopy(given[key] if key in given else inherited.get(key, default)))
                 for key, (_check, default) in SET_FIELDS.items())
    _identity(entry, path)
    entry["repo"] = _repo(given.get("repo"), path + ("repo",), trusted, credentials)
    remote_charts.check_entries(entry["helm"], trusted, credentials, path + ("helm",))
    if entry["repo"] is None and root is not None:
        _in_checkout(root, entry["path"], isinstance(raw.get("path"), list), path)
    return entry


def _check_graph(entries, lines):
    first = {}
    for index, entry in enumerate(entries):
        if entry["name"] in first:
            raise f.Invalid(("sets", index, "name"), "set '%s' is declared twice (first at line %d)"
                            % (entry["name"], _line(lines, ("sets", first[entry["name"]], "name"))))
        first[entry["name"]] = index
    for index, entry in enumerate(entries):
        for position, dep in enumerate(entry["depends_on"]):
            where = ("sets", index, "depends_on", position)
            if dep not in first:
                raise f.Invalid(where, "unknown set '%s'" % dep)
            if dep == entry["name"]:
                raise f.Invalid(where, "set '%s' depends on itself" % dep)
            if dep in entry["depends_on"][:position]:
                raise f.Invalid(where, "'%s' is listed twice" % dep)
    deps = dict((e["name"], e["depends_on"]) for e in entries)
    cycle = graph.find_cycle([e["name"] for e in entries], deps)
    if cycle:
        raise f.Invalid(("sets", first[cycle[0]], "depends_on", deps[cycle[0]].index(cycle[1])),
                        "dependency cycle: %s" % " -> ".join(cycle))


def _line(lines, path):
    """The line of `path`, or of its nearest enclosing field (a missing field: the mapping that lacks it)."""
    path = tuple(path)
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 1)


def parse(text, name, root=None, trusted_keys=(), credentials=()):
    """The Declaration in `text`, the file `name`.  With `root` (the checkout of that file), each path
    of a set of the same repository must exist there and resolve inside it.  `trusted_keys` and
    `credentials`: the names the play gives, the only ones a set's repo.trust, repo.credentials may name."""
    data, lines = load_one(text, name)
    try:
        if data is None:
            raise f.Invalid((), "is empty; a sets declaration has a name and sets")
        if not isinstance(data, dict):
            raise f.Invalid((), "a sets declaration is a mapping (name, prune, max_deletions, defaults, sets), got %s"
                            % f.shown(data))
        top = _TOP(data, ())
        if not _DECLARATION_NAME.match(top["name"]):
            raise f.Invalid(("name",), "'%s' is not a declaration name ([a-z0-9-], at most 40, a letter or digit at "
                                       "both ends)" % top["name"])
        defaults = top.get("defaults") or {}
        _identity(defaults, ("defaults",))
        entries = [_one_set(raw, ("sets", index), defaults, root, set(trusted_keys), set(credentials))
                   for index, raw in enumerate(top["sets"])]
        _check_graph(entries, lines)
    except f.Invalid as bad:
        field = paths.dotted(bad.path)
        raise GitOpsError("%s line %d: %s%s" % (name, _line(lines, bad.path), field + ": " if field else "", bad.message))
    sets = [DeclaredSet(line=_line(lines, ("sets", index)), **entry) for index, entry in enumerate(entries)]
    return Declaration(top["name"], name, top.get("prune", False), top.get("max_deletions"), sets)


def load(root, rel, trusted_keys=(), credentials=(), max_bytes=manifests.MAX_FILE_BYTES):
    """The Declaration in the file `rel` of the checkout `root` (parse)."""
    return parse(manifests.read_text(root, rel, max_bytes), rel, root, trusted_keys, credentials)


def waves(declared):
    """[[set names], ...] in dependency order (Kahn layers, common/graph.py): each wave's sets depend only
    on sets of earlier waves, in the declaration's order.  Raises GitOpsError naming a cycle."""
    return graph.waves([s.name for s in declared], dict((s.name, list(s.depends_on)) for s in declared))
