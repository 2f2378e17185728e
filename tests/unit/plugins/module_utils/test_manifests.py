"""Loading and validating manifests from plain files (no git, no cluster)."""
from __future__ import annotations

import os

import pytest
from ansible_collections.gitops.core.plugins.module_utils.source import manifests
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from files import write

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: default}\n"


def load(root, rel):
    text = manifests.read_text(str(root), rel)
    return manifests.objects_from_documents(manifests.parse_documents(text, rel), rel)


def test_sources_are_sorted_filtered_and_skip_git(tmp_path):
    for rel in ("b/x.yaml", "a.yml", "c.json", "README.md", ".git/config.yaml", "t.yaml.j2", "skip.yaml"):
        write(tmp_path, rel, "")
    got = manifests.collect_sources(str(tmp_path), ["."], exclude=["skip.*"])
    assert [(s.path, s.renderer) for s in got] == [
        ("a.yml", "plain"), ("b/x.yaml", "plain"), ("c.json", "plain"), ("t.yaml.j2", "jinja")]


def test_plain_render_ignores_templates_and_non_recursive_stays_at_top(tmp_path):
    write(tmp_path, "a.yaml", "")
    write(tmp_path, "t.yaml.j2", "")
    write(tmp_path, "sub/b.yaml", "")
    got = manifests.collect_sources(str(tmp_path), ["."], recursive=False, render="plain")
    assert [s.path for s in got] == ["a.yaml"]


def test_kustomization_folder_is_one_source_in_auto_mode(tmp_path):
    write(tmp_path, "apps/kustomization.yaml", "resources: [cm.yaml]\n")
    write(tmp_path, "apps/cm.yaml", CM % "a")
    write(tmp_path, "other.yaml", CM % "b")
    got = manifests.collect_sources(str(tmp_path), ["."])
    assert [(s.path, s.renderer) for s in got] == [("apps", "kustomize"), ("other.yaml", "plain")]


def test_path_outside_the_repository_is_refused(tmp_path):
    (tmp_path / "repo").mkdir()
    with pytest.raises(GitOpsError, match=r"path '\.\./' resolves outside the repository|resolves outside"):
        manifests.collect_sources(str(tmp_path / "repo"), ["../"])


def test_symlink_chain_leading_outside_is_refused(tmp_path):
    repo = tmp_path / "repo"
    write(tmp_path, "secret.yaml", CM % "s")
    repo.mkdir()
    os.symlink("../secret.yaml", repo / "hop1.yaml")
    os.symlink("hop1.yaml", repo / "hop2.yaml")
    with pytest.raises(GitOpsError, match="hop2.yaml' resolves outside the repository|hop1.yaml' resolves outside"):
        manifests.collect_sources(str(repo), ["."])
    with pytest.raises(GitOpsError, match="resolves outside the repository"):
        manifests.read_text(str(repo), "hop2.yaml")


def test_symlinked_folder_outside_is_refused(tmp_path):
    repo = tmp_path / "repo"
    write(tmp_path, "elsewhere/cm.yaml", CM % "x")
    repo.mkdir()
    os.symlink(str(tmp_path / "elsewhere"), repo / "linked")
    with pytest.raises(GitOpsError, match="linked' resolves outside the repository"):
        manifests.collect_sources(str(repo), ["."])


def test_symlink_inside_the_repository_is_followed(tmp_path):
    write(tmp_path, "real/cm.yaml", CM % "x")
    os.symlink("real", tmp_path / "alias")
    got = manifests.collect_sources(str(tmp_path), ["alias"])
    assert [s.path for s in got] == ["real/cm.yaml"]


def test_missing_path_is_named(tmp_path):
    with pytest.raises(GitOpsError, match="path 'nope' does not exist in the repository"):
        manifests.collect_sources(str(tmp_path), ["nope"])


def test_file_over_the_size_limit_is_refused(tmp_path):
    write(tmp_path, "big.yaml", "a: " + "x" * 100 + "\n")
    with pytest.raises(GitOpsError, match=r"big.yaml is 104 bytes, over the limit of 50 \(max_file_bytes\)"):
        manifests.read_text(str(tmp_path), "big.yaml", max_bytes=50)


@pytest.mark.parametrize("text, message", [
    ("kind: ConfigMap\nmetadata: {name: a}\n", "f.yaml, document 1: apiVersion is missing"),
    ("apiVersion: v1\nmetadata: {name: a}\n", "f.yaml, document 1: kind is missing"),
    ("apiVersion: v1\nkind: ConfigMap\n", "f.yaml, document 1: metadata is missing"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n", "f.yaml, document 1: metadata.name is missing"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 5}\n", "metadata.name must be a string, got int"),
    ("- a\n- b\n", "f.yaml, document 1: expected a Kubernetes object"),
    (CM % "a" + "---\n" + "apiVersion: v1\nkind: X\nmetadata: {name: b, labels: {n: 1}}\n",
     "f.yaml, document 2: metadata.labels.n must be a string, got int"),
])
def test_invalid_objects_name_file_document_and_field(tmp_path, text, message):
    write(tmp_path, "f.yaml", text)
    with pytest.raises(GitOpsError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load(tmp_path, "f.yaml")


def test_list_kinds_are_flattened(tmp_path):
    write(tmp_path, "l.yaml", "apiVersion: v1\nkind: List\nitems:\n- %s- %s" % (
        (CM % "a").replace("\n", "\n  ", 2), (CM % "b").replace("\n", "\n  ", 2)))
    got = load(tmp_path, "l.yaml")
    assert [str(i.ref) for i in got] == ["ConfigMap default/a", "ConfigMap default/b"]


def test_invalid_list_item_is_named(tmp_path):
    write(tmp_path, "l.yaml", "apiVersion: v1\nkind: ConfigMapList\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n")
    with pytest.raises(GitOpsError, match=r"l.yaml, document 1, items\[0\]: metadata is missing"):
        load(tmp_path, "l.yaml")


def test_json_files_load_and_refuse_duplicate_keys(tmp_path):
    write(tmp_path, "a.json", '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}')
    assert load(tmp_path, "a.json")[0].obj["metadata"]["name"] == "j"
    write(tmp_path, "b.json", '{"apiVersion": "v1", "kind": "ConfigMap", "kind": "Secret", "metadata": {}}')
    with pytest.raises(GitOpsError, match="b.json: duplicate key 'kind'"):
        load(tmp_path, "b.json")


def test_same_object_twice_names_both_files(tmp_path):
    write(tmp_path, "a.yaml", CM % "dup")
    write(tmp_path, "b.yaml", "---\n" + CM % "other" + "---\n" + CM % "dup")
    loaded = load(tmp_path, "a.yaml") + load(tmp_path, "b.yaml")
    with pytest.raises(GitOpsError, match="ConfigMap default/dup is declared twice: a.yaml document 1 and b.yaml document 2"):
        manifests.check_unique(loaded)


def test_same_name_in_other_namespace_or_group_is_not_a_duplicate(tmp_path):
    write(tmp_path, "a.yaml", CM % "x" + "---\n" + (CM % "x").replace("default", "other")
          + "---\napiVersion: example.com/v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\n")
    manifests.check_unique(load(tmp_path, "a.yaml"))


def test_object_limit(tmp_path):
    write(tmp_path, "a.yaml", "---\n".join(CM % n for n in "abc"))
    with pytest.raises(GitOpsError, match=r"3 objects, over the limit of 2 \(max_objects\)"):
        manifests.check_count(load(tmp_path, "a.yaml"), 2)


def test_digest_is_stable_and_sensitive():
    a = [{"kind": "X", "b": 1, "a": [1, 2]}]
    assert manifests.digest(a) == manifests.digest([{"a": [1, 2], "b": 1, "kind": "X"}])
    assert manifests.digest(a) != manifests.digest([{"kind": "X", "b": 2, "a": [1, 2]}])


SOPS_SECRET = """apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData:
    password: ENC[AES256_GCM,data:Dq2W0g==,iv:4mB8rG7tq1wF0Yk1e8D8hQ==,tag:tj6m7Bq3Jx5l0m7W2wY3jA==,type:str]
sops:
    age:
        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOQ==
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-11-30T10:00:00Z"
    mac: ENC[AES256_GCM,data:q1Vd2w==,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
    encrypted_regex: ^(data|stringData)$
    version: 3.13.1
"""
VAULT_FILE = "$ANSIBLE_VAULT;1.1;AES256\n61626364656667686970\n"
VAULT_VALUE = """apiVersion: v1
kind: Secret
metadata: {name: db}
stringData:
  password: !vault |
    $ANSIBLE_VAULT;1.1;AES256
    61626364656667686970
"""


@pytest.mark.parametrize("name, text, fragment", [
    ("secret.sops.yaml", SOPS_SECRET, "secret.sops.yaml, document 1 is SOPS-encrypted (its sops metadata names version "
                                      "3.13.1); give `decryption`"),
    ("secret.yaml", VAULT_FILE, "secret.yaml, document 1 is encrypted with Ansible Vault"),
    ("value.yaml", VAULT_VALUE, "value.yaml, document 1: a !vault value (Ansible Vault) at line 5"),
])
def test_an_encrypted_manifest_is_refused_never_applied_as_ciphertext(name, text, fragment):
    """Before: a SOPS-encrypted Secret loaded as a plain one, ciphertext and sops block included."""
    with pytest.raises(GitOpsError) as err:
        manifests.objects_from_documents(manifests.parse_documents(text, name), name)
    assert fragment in err.value.message
