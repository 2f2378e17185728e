"""Helm charts: what is refused before helm runs, how its output is split and attributed, settings
per chart, namespaces and hooks (plain data and files; the real helm runs in tests/integration)."""
from __future__ import annotations

import io
import os
import tarfile
import textwrap

import pytest
import yaml
from ansible_collections.gitops.core.plugins.module_utils.common import decrypted
from ansible_collections.gitops.core.plugins.module_utils.source import chart_probe, helm, manifests
from ansible_collections.gitops.core.plugins.module_utils.source.secrets import sops
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from files import write

CHART = "apiVersion: v2\nname: %s\nversion: 0.1.0\n"


@pytest.mark.parametrize("text, calls", [
    ('{{ $s := lookup "v1" "Secret" "ns" "db" }}', True),
    ("{{- (lookup\n  \"v1\" \"ConfigMap\" .Release.Namespace \"x\").data -}}", True),
    ("{{ if (lookup \"v1\" \"Namespace\" \"\" \"a\") }}x{{ end }}", True),
    ("{{ .Values.lookup }}", False),           # a value named lookup
    ("{{ $lookup := 1 }}{{ $lookup }}", False),  # a variable
    ('{{ include "lookup" . }}', False),        # a string
    ("lookup: {{ .Values.x }}", False),         # outside any action
    ("{{ lookupTable }}", False),               # a longer name
])
def test_lookup_calls_are_found_only_where_they_are_calls(text, calls):
    assert chart_probe.calls_lookup(text) is calls


def test_output_documents_keep_their_template_file_and_index():
    out = ("---\n# Source: web/crds/w.yaml\napiVersion: v1\nkind: A\n---\n# Source: web/charts/dep/templates/x.yaml\n"
           "kind: B\n---\n# Source: web/templates/a.yaml\nkind: C\n---\n# Source: web/templates/a.yaml\nkind: D\n"
           "---\n# Source: web/templates/b.yaml\n# a comment only: no document\n")
    got = helm.split_output(out, "charts/web", "web")
    assert got == [("charts/web/crds/w.yaml", 1, {"apiVersion": "v1", "kind": "A"}),
                   ("charts/web/charts/dep/templates/x.yaml", 1, {"kind": "B"}),
                   ("charts/web/templates/a.yaml", 1, {"kind": "C"}),
                   ("charts/web/templates/a.yaml", 2, {"kind": "D"})]


def test_settings_per_chart_overlay_the_shared_ones():
    shared = {"release_namespace": "apps", "values_files": ["common.yaml"], "include_crds": True, "hooks": "refuse",
              "charts": [{"path": "charts/db/", "release_name": "pg", "values_files": ["db.yaml"], "include_crds": False,
                          "release_namespace": None, "hooks": "waves"}]}
    db = helm.chart_settings(shared, "charts/db")
    assert (db["release_name"], db["release_namespace"], db["values_files"], db["include_crds"], db["hooks"]) == \
        ("pg", "apps", ["db.yaml"], False, "waves")
    web = helm.chart_settings(shared, "charts/web")
    assert (web["release_name"], web["values_files"], web["include_crds"]) == ("web", ["common.yaml"], True)
    assert helm.chart_settings({}, "x")["release_namespace"] == "default"
    helm.check_chart_entries(shared, ["charts/db"])
    with pytest.raises(GitOpsError, match=r"helm.charts\[0\].path 'charts/db/' is not a chart rendered by this run "
                                          r"\(charts: charts/web\)"):
        helm.check_chart_entries(shared, ["charts/web"])


def test_helm_command_and_its_empty_home(tmp_path):
    settings = {"release_name": "web", "release_namespace": "apps", "include_crds": True}
    capabilities = {"kube_version": "1.31.4", "api_versions": ["a/v1", "b/v1/K"]}
    cmd = helm.helm_command(None, "/repo/charts/web", settings, ["/repo/v.yaml", "/tmp/inline.json"], capabilities)
    assert cmd == ["helm", "template", "web", "/repo/charts/web", "--namespace", "apps", "--skip-tests", "--include-crds",
                   "--kube-version", "1.31.4", "--api-versions", "a/v1", "--api-versions", "b/v1/K",
                   "--values", "/repo/v.yaml", "--values", "/tmp/inline.json"]
    env = helm.helm_env(str(tmp_path))
    assert all(value.startswith(str(tmp_path)) for value in env.values())
    for name in ("HELM_PLUGINS", "HELM_REPOSITORY_CONFIG", "HELM_REGISTRY_CONFIG", "HELM_CACHE_HOME", "KUBECONFIG", "HOME"):
        assert name in env


def test_dependencies_must_be_vendored_and_archives_are_searched(tmp_path):
    write(tmp_path, "c/Chart.yaml", CHART % "c" + "dependencies:\n- {name: dep, repository: https://x.invalid}\n"
                                                  "- {name: packed, repository: 'file://../packed'}\n")
    with pytest.raises(GitOpsError, match=r"chart c: dependency 'dep' from https://x.invalid is not vendored in c/charts/"):
        helm.check_chart_tree(str(tmp_path), "c")
    missing = []  # helm.dependencies=fetch: the top chart's missing dependencies are listed, not refused
    helm.check_chart_tree(str(tmp_path), "c", missing=missing)
    assert [d["name"] for d in missing] == ["dep", "packed"]
    write(tmp_path, "c/charts/dep/Chart.yaml", CHART % "dep")
    with pytest.raises(GitOpsError, match="dependency 'packed'"):
        helm.check_chart_tree(str(tmp_path), "c")
    data = b'{{ (lookup "v1" "Secret" "" "x").data }}'
    archive = tmp_path / "c/charts/packed-0.1.0.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("packed/templates/s.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert helm.check_chart_tree(str(tmp_path), "c") == ("c", True, False)  # a lookup call in an archive is seen
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("packed/templates/l.yaml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(GitOpsError, match="archive member packed/templates/l.yaml is a link"):
        helm.check_chart_tree(str(tmp_path), "c")
    os.remove(archive)
    write(tmp_path, "c/charts/packed/Chart.yaml", CHART % "packed")
    assert helm.check_chart_tree(str(tmp_path), "c") == ("c", False, False)  # both vendored, nothing calls lookup


def test_a_symlinked_chart_file_outside_the_checkout_is_refused(tmp_path):
    repo = tmp_path / "repo"
    write(repo, "c/Chart.yaml", CHART % "c")
    write(tmp_path, "elsewhere.yaml", "kind: X\n")
    (repo / "c/templates").mkdir()
    os.symlink(tmp_path / "elsewhere.yaml", repo / "c/templates/x.yaml")
    with pytest.raises(GitOpsError, match="path 'c/templates/x.yaml' resolves outside the repository"):
        helm.check_chart_tree(str(repo), "c")


def test_charts_are_found_in_auto_mode_and_kustomize_wins_in_a_folder_with_both(tmp_path):
    write(tmp_path, "apps/web/Chart.yaml", CHART % "web")
    write(tmp_path, "apps/web/templates/x.yaml", "{{ .Values.x }}\n")  # never loaded as a plain file
    write(tmp_path, "apps/both/Chart.yaml", CHART % "both")
    write(tmp_path, "apps/both/kustomization.yaml", "resources: []\n")
    write(tmp_path, "apps/cm.yaml", "")
    got = manifests.collect_sources(str(tmp_path), ["apps"])
    assert [(s.path, s.renderer) for s in got] == [("apps/both", "kustomize"), ("apps/cm.yaml", "plain"),
                                                   ("apps/web", "helm")]
    excluded = manifests.collect_sources(str(tmp_path), ["apps"], exclude=["apps/web", "both"])
    assert [(s.path, s.renderer) for s in excluded] == [("apps/cm.yaml", "plain")]
    assert [(s.path, s.renderer) for s in manifests.collect_sources(str(tmp_path), ["apps/both"], render="helm")] == \
        [("apps/both", "helm")]
    with pytest.raises(GitOpsError, match="path 'apps' has no Chart.yaml"):
        manifests.collect_sources(str(tmp_path), ["apps"], render="helm")
    with pytest.raises(GitOpsError, match="path 'apps/cm.yaml' is a file; render=helm needs a folder with a Chart.yaml"):
        manifests.collect_sources(str(tmp_path), ["apps/cm.yaml"], render="helm")


def loaded(*objects):
    return [manifests.objects_from_documents([(1, o)], "c/templates/t.yaml")[0] for o in objects]


def test_objects_without_a_namespace_get_the_release_namespace_unless_cluster_scoped():
    items = loaded({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "other"}},
                   {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}},
                   {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gs.x.io"},
                    "spec": {"group": "x.io", "scope": "Cluster", "names": {"kind": "G"}}},
                   {"apiVersion": "x.io/v1", "kind": "G", "metadata": {"name": "g"}},
                   {"apiVersion": "y.io/v1", "kind": "Unknown", "metadata": {"name": "u"}})
    got = [str(i.ref) for i in helm.with_release_namespace(items, "apps")]
    assert got == ["ConfigMap apps/a", "ConfigMap other/b", "rbac.authorization.k8s.io/ClusterRole r",
                   "apiextensions.k8s.io/CustomResourceDefinition gs.x.io", "x.io/G g", "y.io/Unknown apps/u"]


def test_a_yaml_error_in_the_output_names_the_template_that_rendered_it():
    out = ("---\n# Source: web/templates/ok.yaml\nkind: A\n---\n# Source: web/templates/bad.yaml\n"
           "kind: B\ndata: {a: b\n---\n# Source: web/templates/later.yaml\nkind: C\n")
    with pytest.raises(GitOpsError, match=r"^charts/web/templates/bad.yaml \(rendered by helm\): line \d+ column \d+ "
                                          r"YAML syntax error"):
        helm.split_output(out, "charts/web", "web")


def test_templates_over_the_size_limit_are_refused_like_any_file(tmp_path):
    write(tmp_path, "c/Chart.yaml", CHART % "c")
    write(tmp_path, "c/templates/big.yaml", "x" * 2048)
    with pytest.raises(GitOpsError, match=r"^c/templates/big.yaml is 2048 bytes, over the limit of 1024 \(max_file_bytes\)"):
        helm.check_chart_tree(str(tmp_path), "c", max_bytes=1024)
    helm.check_chart_tree(str(tmp_path), "c", max_bytes=4096)


def test_an_archive_template_over_the_size_limit_is_refused(tmp_path):
    write(tmp_path, "c/Chart.yaml", CHART % "c" + "dependencies:\n- {name: packed}\n")
    data = b"x" * 4096
    (tmp_path / "c/charts").mkdir()
    with tarfile.open(tmp_path / "c/charts/packed-1.0.0.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("packed/templates/big.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(GitOpsError, match=r"archive member packed/templates/big.yaml is 4096 bytes, over the limit of 1024"):
        helm.check_chart_tree(str(tmp_path), "c", max_bytes=1024)


def test_helm_errors_lose_the_values_they_quote():
    message = ("Error: values don't meet the specifications of the schema(s) in the following chart(s):\nc:\n"
               "- at '/password': 'hunter2-from-the-chart' does not match pattern '^[0-9]+$'\n"
               "- at '/db/user': 'it\\'s me' does not match pattern '^x$'\n"
               "template: c/templates/s.yaml:3:9: executing: error calling fail: token s3cr3t-token-value is wrong, "
               "db is fine, web is not")
    got = helm.scrub(message, list(helm.value_strings({"token": "s3cr3t-token-value", "name": ["db", "web"]})))
    assert "hunter2-from-the-chart" not in got and "s3cr3t-token-value" not in got and "it\\'s me" not in got
    assert "- at '/password': (hidden) does not match pattern '^[0-9]+$'" in got
    # the one masking threshold (vocab.MASK_MIN_LENGTH): a value shorter is left alone
    assert "token (hidden) is wrong, db is fine, (hidden) is not" in got


def _vault(plain, password="pw"):
    """ansible-core's own VaultLib (the controller side, the reference) encrypts."""
    from ansible.parsing.vault import VaultLib, VaultSecret
    secret = VaultSecret(password.encode())
    return VaultLib([("default", secret)]).encrypt(plain, secret).decode()


def _fake_helm(args, cwd=None, env=None, data=None, timeout=None):
    """helm template for a chart with one Deployment: the image and the database password from its values."""
    values = {}
    for flag, path in zip(args, args[1:]):
        if flag == "--values":
            with open(path) as fh:
                values.update(yaml.safe_load(fh))
    container = {"name": "web", "image": values["image"], "env": [{"name": "DB_PASSWORD", "value": values["db"]["password"]}]}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"template": {"spec": {"containers": [container]}}}}
    return 0, ("---\n# Source: web/templates/deploy.yaml\n" + yaml.safe_dump(deployment)).encode(), b""


def _render_with_values(tmp_path, values_text):
    write(tmp_path, "charts/web/Chart.yaml", CHART % "web")
    write(tmp_path, "charts/web/templates/deploy.yaml", "# rendered by _fake_helm\n")
    write(tmp_path, "values-prod.yaml", values_text)
    with sops.Decryption(None, {"vault_secrets": [{"id": "default", "secret": "pw"}]}) as decryption:
        loaded, _left_out = helm.render_chart(_fake_helm, str(tmp_path), "charts/web", {"values_files": ["values-prod.yaml"]},
                                              manifests.MAX_FILE_BYTES, decryption)
    [deployment] = [item.obj for item in loaded]
    return deployment


def test_only_the_vault_values_of_a_values_file_are_named_as_decrypted(tmp_path):
    """Before: every string of six characters or more in a values file holding a !vault value was taken for
    a decrypted one, so the plain image was hidden too ("changed (values hidden)")."""
    values = "image: nginx:1.27.3\ndb:\n  password: !vault |\n%s" % textwrap.indent(_vault("s3cret-db-pw"), "    ")
    deployment = _render_with_values(tmp_path, values)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["env"][0]["value"] == "s3cret-db-pw" and container["image"] == "nginx:1.27.3"  # helm got plain values
    assert decrypted.fields(deployment) == {"spec.template.spec.containers[0].env[0].value"}
    assert decrypted.hide(deployment)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27.3"


def test_every_value_of_a_values_file_encrypted_whole_is_named_as_decrypted(tmp_path):
    deployment = _render_with_values(tmp_path, _vault("image: nginx:1.27.3\ndb:\n  password: s3cret-db-pw\n"))
    assert decrypted.fields(deployment) == {"spec.template.spec.containers[0].env[0].value",
                                            "spec.template.spec.containers[0].image"}


HOOKS = """---
# Source: web/templates/hooks.yaml
{kind: Job, apiVersion: batch/v1, metadata: {name: migrate, annotations: {helm.sh/hook: " pre-upgrade , pre-install"}}}
---
# Source: web/templates/hooks.yaml
{kind: Job, apiVersion: batch/v1, metadata: {name: cleanup, annotations: {helm.sh/hook: pre-delete}}}
---
# Source: web/templates/hooks.yaml
{kind: ConfigMap, apiVersion: v1, metadata: {name: blank, annotations: {helm.sh/hook: " , "}}}
"""


@pytest.mark.parametrize("mode, kept", [
    ("helm", {"migrate": ("gitops.core/release", "apps/web"), "blank": None}),
    ("waves", {"migrate": ("gitops.core/wave", "-1"), "blank": None}),
])
def test_hooks_are_read_with_the_engines_parser(tmp_path, mode, kept):
    """A hook is what vocab.helm_hook_phases reads as one (as k8s_reconcile does): an annotation naming no
    phase is no hook; a delete hook is left out."""
    write(tmp_path, "charts/web/Chart.yaml", CHART % "web")
    with sops.Decryption(None, None) as decryption:
        loaded, left_out = helm.render_chart(lambda *a, **k: (0, HOOKS.encode(), b""), str(tmp_path), "charts/web",
                                             {"release_namespace": "apps", "hooks": mode}, manifests.MAX_FILE_BYTES,
                                             decryption)
    annotations = {item.obj["metadata"]["name"]: item.obj["metadata"]["annotations"] for item in loaded}
    assert set(annotations) == set(kept)
    for name, pair in kept.items():
        if pair:
            assert annotations[name][pair[0]] == pair[1]
    assert [entry["ref"] for entry in left_out] == ["batch/Job apps/cleanup"]
