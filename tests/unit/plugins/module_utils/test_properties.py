"""Property-based tests (Hypothesis) of the comparison engine and of manifest loading.

compare.diff: an object compares equal to itself, to a server-defaulted form of itself (status,
server metadata, fields it does not declare) and to any reordering of its keyed lists; any real
change of a declared scalar is reported at its path.  Loading: arbitrary bytes and arbitrary
YAML/JSON give objects or one GitOpsError (no other exception, no hang)."""
from __future__ import annotations

import json
import os

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ansible_collections.gitops.core.plugins.module_utils.observe import compare  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.source import manifests  # noqa: E402
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError  # noqa: E402

# 150 examples per property in the main run; the compatibility run (hack/compat) asks for fewer through
# PROPERTY_EXAMPLES: there the point is that the same properties hold on the oldest ansible-core and Python.
SETTINGS = settings(max_examples=int(os.environ.get("PROPERTY_EXAMPLES") or 150), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[a-z][a-z0-9-]{0,11}", fullmatch=True)
scalars = st.one_of(st.text(max_size=20), st.integers(-10 ** 6, 10 ** 6), st.booleans())
plain_maps = st.dictionaries(names, scalars, max_size=5)


def container(name):
    return st.fixed_dictionaries({
        "name": st.just(name), "image": st.text(min_size=1, max_size=20),
        "env": st.lists(names, unique=True, max_size=4).map(lambda ns: [{"name": n, "value": n + "-v"} for n in ns]),
        "ports": st.lists(st.integers(1, 65535), unique=True, max_size=3).map(
            lambda ps: [{"containerPort": p, "protocol": "TCP"} for p in ps]),
    })


deployments = st.builds(
    lambda name, labels, replicas, cnames, data: {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels},
                                                    "spec": {"containers": cnames}}},
        "data": data},
    names, st.dictionaries(names, st.text(max_size=10), max_size=3), st.integers(0, 50),
    st.lists(names, unique=True, min_size=1, max_size=4).flatmap(lambda ns: st.tuples(*[container(n) for n in ns]).map(list)),
    plain_maps)


def server_defaulted(obj, rng):
    """What the API server gives back: status, server metadata, undeclared defaults, keyed lists reordered."""
    live = json.loads(json.dumps(obj))
    live["status"] = {"replicas": 1}
    live["metadata"].update(uid="u-1", resourceVersion="42", generation=3, creationTimestamp="2026-01-01T00:00:00Z")
    spec = live["spec"]
    spec["revisionHistoryLimit"] = 10
    pod = spec["template"]["spec"]
    pod["restartPolicy"] = "Always"
    for c in pod["containers"]:
        c["imagePullPolicy"] = "IfNotPresent"
        rng.shuffle(c["env"])
        rng.shuffle(c["ports"])
    rng.shuffle(pod["containers"])
    return live


@SETTINGS
@given(deployments)
def test_an_object_equals_itself(obj):
    assert compare.diff(obj, json.loads(json.dumps(obj))) == []


@SETTINGS
@given(deployments, st.randoms(use_true_random=False))
def test_an_object_equals_its_server_defaulted_and_reordered_form(obj, rng):
    assert compare.diff(obj, server_defaulted(obj, rng)) == []


def leaves(node, path=()):
    """(path, value) of every scalar the object declares (keyed list items addressed by position)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))
    else:
        yield path, node


def changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    return value + "-changed"


@SETTINGS
@given(deployments, st.data())
def test_a_real_change_of_a_declared_field_is_reported(obj, data):
    candidates = [(p, v) for p, v in leaves(obj)
                  if p[:1] not in (("apiVersion",), ("kind",)) and p[-1] not in ("name", "containerPort", "protocol")
                  and v not in ("", None)]
    if not candidates:
        return
    path, value = data.draw(st.sampled_from(candidates))
    live = json.loads(json.dumps(obj))
    node = live
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = changed(value)
    found = compare.diff(obj, live)
    assert found, (path, value)
    # the reported path names the changed field (keyed list items by their key, others by position)
    assert any(d.path[-1] == path[-1] for d in found), (path, [d.path for d in found])


# ------------------------------------------------------------------ loading never crashes

def _load(text, name):
    try:
        docs = manifests.parse_documents(text, name)
        manifests.objects_from_documents(docs, name)
    except GitOpsError as exc:
        assert name in exc.message, exc.message  # a clear error names the file


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_load_or_fail_with_a_clear_error(raw):
    text = raw.decode("utf-8", "replace")
    for name in ("f.yaml", "f.json"):
        _load(text, name)


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=30)


@SETTINGS
@given(st.lists(yaml_values, min_size=1, max_size=4))
def test_arbitrary_yaml_documents_load_or_fail_with_a_clear_error(documents):
    import yaml
    text = yaml.safe_dump_all(documents)
    _load(text, "docs.yaml")
    _load(json.dumps(documents[0]), "doc.json")


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 40))
def test_alias_bombs_are_refused_quickly(depth, width):
    """Nested aliases that would expand exponentially are refused, never expanded."""
    lines = ["a0: &a0 [%s]" % ", ".join(["x"] * width)]
    for i in range(1, depth):
        lines.append("a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * width)))
    text = "\n".join(lines) + "\n"
    _load(text, "bomb.yaml")
