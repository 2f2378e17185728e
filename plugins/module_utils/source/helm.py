# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm charts of the checkout, rendered with `helm template` under the same rules as Kustomize:
the chart, its values files and its dependencies come from the verified commit only (dependencies
vendored in the chart's own `charts/` folder), no `lookup` call is reached (chart_probe.py), a chart
rendering differently each time is named, and Helm runs with an empty home of its own (no repositories, registries, plugins or kubeconfig of the machine) and no
post-renderer.  Rendered objects keep their template file as their source; hooks are refused or
mapped onto waves."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import tarfile
import tempfile

from ansible_collections.gitops.core.plugins.module_utils.common import decrypted, paths, sanitize, vocab, yamlsafe
from ansible_collections.gitops.core.plugins.module_utils.source import chart_probe, remote_charts
from ansible_collections.gitops.core.plugins.module_utils.source.secrets import encrypted, vault
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.manifests import (
    CHART_FILE, MAX_FILE_BYTES, digest, inside, load_mapping, objects_from_documents, read_text, walk)
from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.module_utils.common.vocab import (
    DISABLED, HELM_HOOK, HELM_POST_HOOKS, HELM_PRE_HOOKS, HELM_RESOURCE_POLICY, HIDDEN, PRUNE_ANNOTATION,
    MASK_MIN_LENGTH, RELEASE_ANNOTATION, RELEASE_DIGEST_ANNOTATION, WAVE_ANNOTATION, helm_hook_phases)
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import load_all

HELM_TIMEOUT = 300
HOOK_ANNOTATION, KEEP_ANNOTATION = HELM_HOOK, HELM_RESOURCE_POLICY
HOOK_MODES = ("helm", "refuse", "waves")
# Settings a chart entry (helm.charts) may set over the shared ones.
CHART_SETTINGS = ("release_name", "release_namespace", "values_files", "release_values", "include_crds", "hooks",
                  "lookup", "random", "dependencies")
DEPENDENCY_MODES = ("vendored", "fetch")  # helm.dependencies: only charts/, or Chart.lock's fetched

LOOKUP_MODES = ("refuse", "empty")   # helm.lookup: a reached lookup call refused, or rendered as helm template does
RANDOM_MODES = ("refuse", "accept")  # helm.random: a chart rendering differently each time refused, or accepted
# Built-in cluster-scoped kinds: every other object the chart leaves without a namespace gets the
# release namespace, as `helm install` would put it there (k8s_reconcile drops a namespace that
# discovery shows a kind does not take).
CLUSTER_SCOPED = frozenset([
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "VolumeAttachment"),
    ("scheduling.k8s.io", "PriorityClass"), ("networking.k8s.io", "IngressClass"), ("node.k8s.io", "RuntimeClass"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("apiregistration.k8s.io", "APIService"), ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
])
_SOURCE = re.compile(r"^# Source: (.+?)\s*$", re.M)
# Helm's values-schema errors quote the offending value: "- at '/password': 'the value' does not match ...".
_SCHEMA_VALUE = re.compile(r"(at '[^']*': )'(?:[^'\\]|\\.)*'")
_TEMPLATE_SUFFIXES = (".yaml", ".yml", ".tpl", ".txt", ".json")


def option_spec():
    """git_desired_state's `helm` option (its suboptions, argument-spec form); a declared set's `helm`
    (source/sets.py) is checked against the same fields."""
    chart = dict(
        path=dict(type="str"),
        repository=dict(type="str"),
        chart=dict(type="str"),
        version=dict(type="str"),
        digest=dict(type="str"),
        unpinned=dict(type="str", choices=["refuse", "accept"]),
        verify=dict(type="str", choices=["none", "provenance", "cosign"]),
        trust=dict(type="str"),
        credentials=dict(type="str", no_log=False),
        plain_http=dict(type="bool"),
        allowed_hosts=dict(type="list", elements="str"),
        release_name=dict(type="str"),
        release_namespace=dict(type="str"),
        values_files=dict(type="list", elements="str"),
        release_values=dict(type="dict"),
        include_crds=dict(type="bool"),
        hooks=dict(type="str", choices=list(HOOK_MODES)),
        lookup=dict(type="str", choices=list(LOOKUP_MODES)),
        random=dict(type="str", choices=list(RANDOM_MODES)),
        dependencies=dict(type="str", choices=list(DEPENDENCY_MODES)),
    )
    return dict(
        release_name=dict(type="str"),
        release_namespace=dict(type="str", default="default"),
        values_files=dict(type="list", elements="str", default=[]),
        release_values=dict(type="dict", default={}),
        include_crds=dict(type="bool", default=True),
        kube_version=dict(type="str"),
        api_versions=dict(type="list", elements="str", default=[]),
        hooks=dict(type="str", default="helm", choices=list(HOOK_MODES)),
        lookup=dict(type="str", default="refuse", choices=list(LOOKUP_MODES)),
        random=dict(type="str", default="refuse", choices=list(RANDOM_MODES)),
        dependencies=dict(type="str", default="vendored", choices=list(DEPENDENCY_MODES)),
        dependency_credentials=dict(type="dict", default={}),
        binary=dict(type="path"),
        cache_dir=dict(type="path"),
        charts=dict(type="list", elements="dict", default=[], options=chart),
    )


def _check_dependencies(chart_rel, meta, vendored, missing=None):
    """Each dependency in Chart.yaml must be vendored in charts/ (a folder or an archive); helm
    template never fetches.  With `missing` (a list: helm.dependencies=fetch, the top chart only), a
    dependency that is not there is added to it instead (remote_charts.with_dependencies fetches it as
    Chart.lock pins it)."""
    for index, dep in enumerate(meta.get("dependencies") or []):
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            raise GitOpsError("%s/%s: dependencies[%d] needs a name" % (chart_rel, CHART_FILE, index))
        name = dep["name"]
        if name in vendored or any(v.startswith(name + "-") and v.endswith(".tgz") for v in vendored):
            continue
        if missing is not None:
            missing.append(dep)
            continue
        repo = dep.get("repository") or ""
        where = " from %s" % repo if repo else ""
        raise GitOpsError(
            "chart %s: dependency '%s'%s is not vendored in %s/charts/: run `helm dependency build` and commit "
            "charts/, or set helm.dependencies=fetch to fetch it as Chart.lock pins it" % (chart_rel, name, where, chart_rel))


def _archive_templates(path, rel, max_bytes):
    """(member name, text) of the templates in a vendored chart archive; links and templates over
    `max_bytes` are refused."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                if member.issym() or member.islnk():
                    raise GitOpsError("%s: archive member %s is a link; refused" % (rel, member.name))
                if member.isfile() and "/templates/" in member.name and member.name.endswith(_TEMPLATE_SUFFIXES):
                    if member.size > max_bytes:
                        raise GitOpsError("%s: archive member %s is %d bytes, over the limit of %d (max_file_bytes)"
                                          % (rel, member.name, member.size, max_bytes))
                    data = tar.extractfile(member).read()
                    yield member.name, data.decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise GitOpsError("%s: not a readable chart archive (%s)" % (rel, exc))


def check_chart_tree(root, chart_rel, max_bytes=MAX_FILE_BYTES, missing=None):
    """Refuse a chart that would render from anything but its commit: a file or folder resolving
    outside the checkout, or a dependency not vendored in charts/ (templates over `max_bytes` or not
    UTF-8 are refused, as any file of the checkout).  Returns (the chart's own name, its Chart.yaml's
    `name`, which helm's output uses in its `# Source:` lines; whether a template calls `lookup`;
    whether one calls a random or time-based function) - chart_probe.py decides from these."""
    top = inside(root, chart_rel)
    real_root = os.path.realpath(root)
    chart_name, lookup, random = "", False, False
    for dirpath, _dirnames, filenames in walk(root, top):
        rel_dir = os.path.relpath(dirpath, real_root)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            real = inside(root, full)
            rel = os.path.join(rel_dir, name)
            if name == CHART_FILE:
                with open(real, encoding="utf-8") as fh:
                    meta = load_mapping(fh.read(), rel)
                charts_dir = os.path.join(dirpath, "charts")
                vendored = sorted(os.listdir(charts_dir)) if os.path.isdir(charts_dir) else []
                _check_dependencies(rel_dir, meta, vendored, missing if dirpath == top else None)
                if dirpath == top:
                    chart_name = meta.get("name") or ""
            elif name.endswith(".tgz") and os.path.basename(dirpath) == "charts":
                for member, text in _archive_templates(real, rel, max_bytes):
                    if chart_probe.is_template(member.split("/", 1)[-1]):
                        lookup = lookup or chart_probe.calls_lookup(text)
                        random = random or chart_probe.uses_random(text)
            elif chart_probe.is_template(os.path.relpath(full, top)):
                text = read_text(root, rel, max_bytes)
                lookup = lookup or chart_probe.calls_lookup(text)
                random = random or chart_probe.uses_random(text)
    return chart_name, lookup, random


def chart_settings(helm, chart_rel, entry=None):
    """The settings for one chart: the shared ones of `helm`, overlaid by its `charts` entry (the one
    whose path is `chart_rel`, or `entry`, a fetched chart's, whose release is named after the chart)."""
    settings = {key: helm.get(key) for key in CHART_SETTINGS}
    for given in [entry] if entry else [e for e in helm.get("charts") or [] if e.get("path")]:
        if entry or os.path.normpath(given["path"]) == os.path.normpath(chart_rel):
            settings.update({key: given[key] for key in CHART_SETTINGS if given.get(key) is not None})
    if not settings.get("release_name"):
        settings["release_name"] = entry["chart"] if entry else os.path.basename(os.path.normpath(chart_rel))
    settings["release_namespace"] = settings.get("release_namespace") or "default"
    if settings.get("include_crds") is None:
        settings["include_crds"] = True
    return settings


def check_chart_entries(helm, rendered):
    """A helm.charts entry that names no rendered chart is a typo: refuse it rather than render the
    chart with the shared settings."""
    known = set(os.path.normpath(c) for c in rendered)
    for index, entry in enumerate(helm.get("charts") or []):
        path = entry.get("path") or ""
        if path and os.path.normpath(path) not in known:
            raise GitOpsError("helm.charts[%d].path '%s' is not a chart rendered by this run (charts: %s)"
                              % (index, path, ", ".join(sorted(known)) or "none"))


def helm_command(binary, chart_path, settings, values_paths, capabilities):
    args = [binary or "helm", "template", settings["release_name"], chart_path,
            "--namespace", settings["release_namespace"], "--skip-tests"]
    if settings["include_crds"]:
        args.append("--include-crds")
    if capabilities.get("kube_version"):
        args += ["--kube-version", capabilities["kube_version"]]
    for version in capabilities.get("api_versions") or []:
        args += ["--api-versions", version]
    for path in values_paths:
        args += ["--values", path]
    return args


def helm_env(home):
    """Helm's own empty home: no repositories, registries, plugins or kubeconfig of the machine."""
    env = {"HELM_%s" % key: os.path.join(home, value) for key, value in (
        ("CACHE_HOME", "cache"), ("CONFIG_HOME", "config"), ("DATA_HOME", "data"), ("PLUGINS", "plugins"),
        ("REGISTRY_CONFIG", "config/registry.json"), ("REPOSITORY_CONFIG", "config/repositories.yaml"),
        ("REPOSITORY_CACHE", "cache/repository"))}
    env.update(KUBECONFIG=os.path.join(home, "kubeconfig"), HOME=home, XDG_CACHE_HOME=os.path.join(home, "cache"),
               XDG_CONFIG_HOME=os.path.join(home, "config"), XDG_DATA_HOME=os.path.join(home, "data"))
    return env


def value_strings(value):
    """The strings of a values tree long enough to mask (vocab.MASK_MIN_LENGTH)."""
    return [text for _path, text in paths.leaves(value) if len(text) >= MASK_MIN_LENGTH]


def scrub(message, values):
    """Helm's error text without the values it was given: a value quoted by a schema error, and every
    string (long enough to mask) of the values files and inline values."""
    return sanitize.mask(_SCHEMA_VALUE.sub(r"\1" + HIDDEN, message), values)


def _leaf_values(data, only=None):
    """The values (as text) of a values tree's leaves, or of those at the index paths `only`; never a
    boolean's text (True, False), which would hide every field that holds the word."""
    chosen = set(map(tuple, only)) if only is not None else None
    return [v if isinstance(v, str) else str(v) for p, v in paths.leaves(data, types=None)
            if not isinstance(v, bool) and (chosen is None or p in chosen)]


def _vault_values(text, rel, name, decryption):
    """(documents, plain text for helm or None) of a values file: encrypted whole with Ansible Vault,
    or holding `!vault` values, decrypted with the play's vault secrets; None when nothing was
    encrypted.  What was decrypted is recorded for the masking, and only that, as for SOPS: every
    value of a file encrypted whole, the `!vault` values alone otherwise (an image tag beside a
    vaulted password is no secret, and recording it would hide every field that holds it)."""
    whole = encrypted.is_vault(text)
    if whole:
        if not decryption.enabled:
            raise GitOpsError("%s is encrypted with Ansible Vault; %s" % (name, yamlsafe.NOT_DECRYPTED))
        text = decryption.vault.decrypt(text, name)
    documents = load_all(text, rel, keep_vault=decryption.enabled)
    revealed, vaulted = [], False
    for position, (index, line, data) in enumerate(documents):
        data, found = vault.decrypt_values(data, decryption.vault, "%s, document %d" % (name, index))
        documents[position] = (index, line, data)
        revealed += _leaf_values(data, None if whole else found)
        vaulted = vaulted or bool(found)
    if not (whole or vaulted):
        return documents, None
    decryption.record(revealed)
    if not whole:  # !vault values: helm reads the values as decrypted here
        import yaml
        text = yaml.safe_dump_all([data for _i, _l, data in documents], sort_keys=False)
    return documents, text


def _values_paths(root, chart_rel, settings, tmpdir, max_bytes, decryption):
    """The --values files (inline values last, written to `tmpdir`) and the strings they hold.  A
    SOPS-encrypted values file is decrypted (with `decryption`) into its private folder."""
    files = []
    strings = list(value_strings(settings.get("release_values")))
    for rel in settings.get("values_files") or []:
        try:
            real = inside(root, rel)
        except GitOpsError:
            raise GitOpsError("chart %s: values file '%s' resolves outside the repository; values files must be "
                              "files of the checkout (paths from the repository root)" % (chart_rel, rel))
        if not os.path.isfile(real):
            raise GitOpsError("chart %s: values file '%s' does not exist in the repository (paths are from the "
                              "repository root)" % (chart_rel, rel))
        text = read_text(root, rel, max_bytes)
        if chart_probe.calls_lookup(text):
            raise GitOpsError("chart %s: values file '%s' holds a lookup call (for tpl); refused" % (chart_rel, rel))
        name = "chart %s: values file %s" % (chart_rel, rel)
        documents, unvaulted = _vault_values(text, rel, name, decryption)
        if unvaulted is not None:
            real = decryption.write_private(unvaulted, ".yaml")
        if any(encrypted.is_sops(data) for _index, _line, data in documents):
            plain, real = decryption.decrypt_to_file(name, inside(root, rel), "yaml")
            documents = load_all(plain, rel)
        for index, _line, data in documents:
            encrypted.refuse(data, "chart %s: values file %s, document %d" % (chart_rel, rel, index))
            strings.extend(value_strings(data))
        files.append(real)
    if settings.get("release_values"):
        inline = os.path.join(tmpdir, "release-values.json")
        with open(inline, "w") as fh:
            json.dump(settings["release_values"], fh)
        files.append(inline)  # last: inline values win over values files
    return files, strings


def _hook(item, names, mode, chart_rel, release):
    """The hook object as the mode says: marked with its release (helm: k8s_reconcile runs it when
    the release changes), mapped onto a wave (waves, deprecated); None to leave it out (a hook that
    only runs on delete or rollback), or an error (refuse).  `names`: its phases
    (vocab.helm_hook_phases, as k8s_reconcile reads them)."""
    if mode == "refuse":
        raise GitOpsError(
            "chart %s: %s (%s) is a Helm hook (%s=%s) and helm.hooks is refuse; helm.hooks=helm (the default) "
            "runs hooks as helm upgrade does" % (chart_rel, item.ref, item.file, HOOK_ANNOTATION, ",".join(names)))
    if mode == "helm":
        if not any(n in HELM_PRE_HOOKS + HELM_POST_HOOKS for n in names):
            return None  # delete, rollback and test hooks: gitops.core has no such phase
        annotations = item.obj["metadata"].setdefault("annotations", {})
        annotations[RELEASE_ANNOTATION], annotations[RELEASE_DIGEST_ANNOTATION] = release
        return item
    if any(n in HELM_PRE_HOOKS for n in names):
        wave = "-1"
    elif any(n in HELM_POST_HOOKS for n in names):
        wave = "1"
    else:
        return None  # delete, rollback and test hooks: gitops.core has no such phase
    annotations = item.obj["metadata"].setdefault("annotations", {})
    annotations.setdefault(WAVE_ANNOTATION, wave)
    return item


def _source_file(source, chart_rel, chart_name):
    """`<chart name>/<path in the chart>` as a path from the repository root."""
    head, _sep, rest = source.partition("/")
    return os.path.join(chart_rel, rest) if head == chart_name and rest else chart_rel


def split_output(text, chart_rel, chart_name):
    """(source file relative to the checkout, document index in it, data) of helm template's output.
    Each template's documents follow a `# Source: <chart name>/<path in the chart>` line; each part is
    parsed on its own, so a YAML error names the template that rendered it."""
    marks = list(_SOURCE.finditer(text))
    parts = [(chart_rel + " (helm template)", text[:marks[0].start()] if marks else text)]
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        parts.append((_source_file(mark.group(1), chart_rel, chart_name), text[mark.start():end]))
    counts = {}
    out = []
    for source, part in parts:
        for _index, _line, data in load_all(part, "%s (rendered by helm)" % source):
            counts[source] = counts.get(source, 0) + 1
            out.append((source, counts[source], data))
    return out


def _cluster_scoped_custom_kinds(items):
    """(group, kind) of the custom resources that the chart's own CRDs declare cluster-scoped."""
    out = set()
    for item in items:
        if (item.ref.group, item.ref.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            spec = item.obj.get("spec") or {}
            if spec.get("scope") == "Cluster":
                out.add((spec.get("group") or "", (spec.get("names") or {}).get("kind")))
    return out


def with_release_namespace(items, namespace):
    """Objects without metadata.namespace get the release namespace unless their kind is known to be
    cluster-scoped (built in, or by a CRD of the same chart)."""
    cluster_scoped = CLUSTER_SCOPED | _cluster_scoped_custom_kinds(items)
    out = []
    for item in items:
        meta = item.obj["metadata"]
        if not meta.get("namespace") and (item.ref.group, item.ref.kind) not in cluster_scoped:
            meta["namespace"] = namespace
            item = item._replace(ref=ObjectRef.from_object(item.obj))
        out.append(item)
    return out


def _template(runner, cmd, home, root, chart_rel, chart_name, secrets):
    """helm template's output (bytes); its failure explained - a lookup call reached names its line."""
    try:
        code, out, err = runner(cmd, cwd=home, env=helm_env(home), timeout=HELM_TIMEOUT)
    except GitOpsError as exc:
        if "not installed" in exc.message:
            raise GitOpsError("chart %s needs helm 3 or 4: %s; install it or set helm.binary" % (chart_rel, exc.message))
        raise GitOpsError("chart %s: %s" % (chart_rel, exc.message))  # helm took longer than HELM_TIMEOUT
    if code == 0:
        return out
    err = err.decode("utf-8", "replace").strip()
    where = chart_probe.reached(err)
    if where:
        template, line = where
        if chart_name and template.startswith(chart_name + "/"):
            template = chart_rel.rstrip("/") + template[len(chart_name):]
        raise GitOpsError("chart %s: %s line %d calls lookup, which reads the live cluster, and rendering reaches it "
                          "with these values: the objects it shapes would not follow from the commit; refused (change "
                          "the values so that it is not reached, or set helm.lookup=empty to render it as helm template "
                          "does: an empty result)" % (chart_rel, template, line))
    for path in (os.path.realpath(root), os.path.join(home, "probe")):
        err = err.replace(path + os.sep, "")
    raise GitOpsError("helm template %s failed: %s" % (chart_rel, scrub(err, secrets)[-2000:]))


def _check_same(first, second, chart_rel, chart_name, namespace):
    """Refuse a chart whose two renders differ (random or time-based functions), naming each object
    (in the release namespace) and field that differs - never a value."""
    def objects(out):
        items = [item for source, document, data in split_output(out.decode("utf-8", "replace"), chart_rel, chart_name)
                 for item in objects_from_documents([(document, data)], source)]
        return [(item.ref, item.obj) for item in with_release_namespace(items, namespace)]
    changed = chart_probe.differences(objects(first), objects(second))
    if changed:
        listed = vocab.listing(["%s: %s" % (ref, vocab.listing(fields, 5, ", ")) for ref, fields in changed], 10, "; ")
        raise GitOpsError("chart %s renders differently each time (random or time-based template functions): %s; "
                          "under GitOps that is a change on every sync and drift for ever - set these values in the "
                          "values file, or set helm.random=accept (with an ignore rule for drift_check)"
                          % (chart_rel, listed))


def render_chart(runner, root, chart_rel, helm, max_bytes, decryption, fetched=None, play=None, charts=None):
    """Loaded records of one chart of the checkout and the list of hooks left out.  `fetched`: a chart
    fetched from a repository (remote_charts.Fetched; `chart_rel` is then its label), whose values files
    are still files of the checkout `root`.  With helm.dependencies=fetch, the dependencies Chart.lock
    pins and charts/ lacks are fetched (with `play`'s credentials) into a private copy of the chart,
    and what was fetched is added to `charts` (a list).  With hooks=helm
    each hook is marked with its release (namespace/name) and the digest of the whole rendered
    release, which k8s_reconcile compares with the one whose hooks last succeeded.  Values files
    encrypted with SOPS are decrypted with `decryption` (sops.Decryption); the fields of the
    rendered objects that hold a decrypted value are named on them (decrypted.mark)."""
    if fetched is not None:
        tree_root, tree_rel = os.path.split(fetched.path)
        chart_path = fetched.path
    else:
        tree_root, tree_rel = root, chart_rel
        chart_path = inside(root, chart_rel)
    settings = chart_settings(helm, chart_rel, fetched.entry if fetched is not None else None)
    missing = [] if settings.get("dependencies") == "fetch" else None
    chart_name, calls_lookup, uses_random = check_chart_tree(tree_root, tree_rel, max_bytes, missing)
    mode = settings.get("hooks") or "helm"
    if mode not in HOOK_MODES:
        raise GitOpsError("helm.hooks must be one of %s" % ", ".join(HOOK_MODES))
    start = decryption.checkpoint()
    home = tempfile.mkdtemp(prefix="gitops-core-helm-")
    try:
        for sub in ("cache", "config", "data", "plugins", "probe"):
            os.mkdir(os.path.join(home, sub))
        values, secrets = _values_paths(root, chart_rel, settings, home, max_bytes, decryption)
        if missing:  # Chart.lock's dependencies, fetched into a private copy of the chart
            chart_path, infos, dep_lookup, dep_random = remote_charts.with_dependencies(
                runner, chart_path, chart_rel, missing, helm, play or {}, os.path.join(home, "deps"), max_bytes)
            calls_lookup, uses_random = calls_lookup or dep_lookup, uses_random or dep_random
            if charts is not None:
                charts.extend(infos)
        if calls_lookup and (settings.get("lookup") or "refuse") == "refuse":  # render the copy that fails if reached
            chart_path = chart_probe.probe_copy(chart_path, os.path.join(home, "probe"))
        cmd = helm_command(helm.get("binary"), chart_path, settings, values, helm)
        out = _template(runner, cmd, home, tree_root, chart_rel, chart_name, secrets)
        if uses_random and (settings.get("random") or "refuse") == "refuse":
            again = _template(runner, cmd, home, tree_root, chart_rel, chart_name, secrets)
            _check_same(out, again, chart_rel, chart_name, settings["release_namespace"])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if len(out) > max_bytes * 16:
        raise GitOpsError("%s (helm template) output is over %d bytes" % (chart_rel, max_bytes * 16))
    rendered = []
    forms = decryption.masked_values(since=start)  # this chart's own decrypted values files
    for source, document, data in split_output(out.decode("utf-8", "replace"), chart_rel, chart_name):
        for item in objects_from_documents([(document, data)], source):
            decrypted.mark(item.obj, forms, "%s, document %d (%s)" % (source, document, item.ref))
            rendered.append(item)
    loaded = []
    left_out = []
    # the release's digest goes on its hooks, live: over the rendered objects with Secret values hidden,
    # so nothing on the cluster is derived from a Secret value (a change of one alone runs no hook)
    release = ("%s/%s" % (settings["release_namespace"], settings["release_name"]),
               digest([sanitize.mask_secret(item.obj) for item in rendered]))
    for item in with_release_namespace(rendered, settings["release_namespace"]):
        annotations = item.obj["metadata"].get("annotations") or {}
        phases = helm_hook_phases(annotations.get(HOOK_ANNOTATION))
        if phases:
            if _hook(item, phases, mode, chart_rel, release) is None:
                left_out.append({"ref": str(item.ref), "file": item.file, "hook": annotations[HOOK_ANNOTATION]})
                continue
            if mode == "helm":  # a hook's lifecycle is its own (not pruned by a keep policy's annotation)
                loaded.append(item)
                continue
        if annotations.get(KEEP_ANNOTATION) == "keep":
            item.obj["metadata"]["annotations"].setdefault(PRUNE_ANNOTATION, DISABLED)
        loaded.append(item)
    return loaded, left_out
