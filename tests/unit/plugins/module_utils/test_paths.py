"""The one path grammar (common/paths.py): what diffs, managedFields, ignore rules, decrypted-field
names and the agent's events write and read."""
from __future__ import annotations

import pytest
from ansible_collections.gitops.core.plugins.module_utils.common import decrypted, paths
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.paths import ANY, Key, Value
from ansible_collections.gitops.core.plugins.module_utils.observe import compare


@pytest.mark.parametrize("path, text", [
    (("spec", "template", "spec", "containers", Key.of({"name": "app"}), "image"),
     "spec.template.spec.containers[name=app].image"),
    (("spec", "containers", 0, "env", 1, "value"), "spec.containers[0].env[1].value"),
    (("metadata", "annotations", "example.com/owner"), "metadata.annotations[example.com/owner]"),
    (("data", "config.yaml"), "data[config.yaml]"),
    (("data", "8080"), 'data["8080"]'),
    (("data", "a=b"), 'data["a=b"]'),
    (("data", "odd]key"), 'data["odd]key"]'),
    (("metadata", "finalizers", Value("kubernetes")), 'metadata.finalizers["kubernetes"]'),
])
def test_written_and_read_back(path, text):
    assert paths.dotted(path) == text
    back = paths.parse(text)
    # a set member reads back as the string it names, which is how patterns select it
    assert back == tuple(str(s.value) if isinstance(s, Value) else
                         Key(tuple((k, str(v)) for k, v in s.fields)) if isinstance(s, Key) else s for s in path)


def test_a_key_with_dots_is_not_a_nested_path():
    assert paths.parse("data[a.b]") == ("data", "a.b") != paths.parse("data.a.b")
    assert not paths.covers({"data[a.b]"}, "data.a")
    assert paths.covers({"data[a.b]"}, "data") and paths.covers({"data"}, "data[a.b]")


def test_json_pointers_and_patterns():
    assert paths.parse("/metadata/annotations/example.com~1x/0") == ("metadata", "annotations", "example.com/x", 0)
    pattern = paths.parse("spec.template.spec.containers[name=app].*")
    assert pattern[-1] == ANY
    path = ("spec", "template", "spec", "containers", Key.of({"name": "app"}), "image")
    assert paths.matches(pattern, path)
    assert not paths.matches(paths.parse("spec.template.spec.containers[name=web]"), path)
    assert paths.matches(paths.parse("metadata.labels"), ("metadata", "labels", "team"))
    assert paths.matches(paths.parse("metadata.finalizers[kubernetes]"), ("metadata", "finalizers", Value("kubernetes")))


@pytest.mark.parametrize("bad", ["", "spec[", 'data["x]'])
def test_bad_paths_name_where(bad):
    with pytest.raises(GitOpsError) as err:
        paths.parse(bad, "ignore[2]")
    assert err.value.message.startswith("ignore[2]: ")


def test_leaves_walk_plain_trees():
    tree = {"a": {"b": ["x", 2, {"c": "y"}]}, "d": None}
    assert list(paths.leaves(tree)) == [(("a", "b", 0), "x"), (("a", "b", 2, "c"), "y")]
    assert list(paths.leaves(tree, types=(int,))) == [(("a", "b", 1), 2)]


def test_a_decrypted_dotted_key_is_named_in_brackets_and_hidden_in_diffs():
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
               "data": {"config.yaml": "token: s3cr3t-value", "mode": "x"}}
    decrypted.mark(desired, set(), "c.yaml", exact=[("data", "config.yaml")])
    assert decrypted.fields(desired) == {"data[config.yaml]"}
    live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(desired["metadata"]),
            "data": {"config.yaml": "token: by-hand", "mode": "x"}}
    [shown] = compare.describe(compare.diff(desired, live), "ConfigMap", desired, live)
    assert shown["path"] == "data[config.yaml]" and shown["live"] == "(hidden)"


def test_hide_reads_the_names_with_the_grammar():
    obj = {"kind": "ConfigMap", "metadata": {"name": "c", "annotations": {
        "gitops.core/decrypted-fields": '["data[config.yaml]", "spec.items[1]", "spec.map"]'}},
        "data": {"config.yaml": "s3cret", "config": {"yaml": "plain"}},
        "spec": {"items": ["a", "b"], "map": {"k": "v"}}}
    shown = decrypted.hide(obj)
    assert shown["data"] == {"config.yaml": "(hidden)", "config": {"yaml": "plain"}}
    assert shown["spec"] == {"items": ["a", "(hidden)"], "map": "(hidden)"}
    assert obj["data"]["config.yaml"] == "s3cret"  # a copy


def test_lookup_never_indexes_into_a_string():
    tree = {"a": "abc", "b": [{"c": 1}]}
    assert paths.lookup(tree, ("a", 1)) is None
    assert paths.lookup(tree, ("b", 0, "c")) == 1 and paths.lookup(tree, ("b", 5)) is None


def test_any_leaf_but_null_when_types_is_none():
    import datetime
    tree = {"when": datetime.date(2026, 12, 3), "n": None, "b": b"x", "l": [True]}
    assert [p for p, _v in paths.leaves(tree, types=None)] == [("when",), ("b",), ("l", 0)]
    assert list(paths.leaves("bare", types=None)) == [((), "bare")]
