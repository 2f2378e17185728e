"""Plain helper functions shared by the integration tests (fixtures stay in conftest.py).

Imported the way the tests import conftest and gitfixtures: `from helpers import ok, cm`, which
works because this folder is not a package, so pytest puts it on sys.path."""
from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from conftest import Kubectl


def ok(result: dict) -> dict:
    """Assert that a registered module result did not fail (its msg as the reason); return it."""
    assert not result.get("failed"), result.get("msg")
    return result


def cm(name: str, ns: str, data: dict | None = None, labels: dict | None = None,
       annotations: dict | None = None, *, value: str = "v", **meta: Any) -> dict:
    """A ConfigMap: metadata name and namespace, then labels and annotations where given (not
    None and not empty), then any other metadata fields in `meta` as given; data is `data`, or
    {"k": value} where `data` is None or empty."""
    metadata: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    metadata.update(meta)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {"k": value}}


def unique_name(prefix: str, length: int = 10) -> str:
    """`prefix` and `length` random hex digits: a set (or other) name no other test run uses."""
    return prefix + uuid.uuid4().hex[:length]


def inventory_entries(kubectl: Kubectl, set_name: str, missing_ok: bool = False) -> list[list]:
    """The entries of the set's inventory (the ConfigMap gitops-system/gitops-set-<set_name>), each
    [group, version, kind, namespace, name] and a state where the entry has one.  A missing
    inventory fails, or with `missing_ok` gives []."""
    got = kubectl.get("configmap", f"gitops-set-{set_name}", "gitops-system")
    if got is None:
        assert missing_ok, f"no inventory gitops-system/gitops-set-{set_name}"
        return []
    return json.loads(got["data"]["objects.json"])


def inventory_keys(kubectl: Kubectl, set_name: str) -> set[tuple[str, str, str]]:
    """(kind, namespace or "", name) of every entry of the set's inventory; an empty set while the
    set has no inventory."""
    return {(e[2], e[3] or "", e[4]) for e in inventory_entries(kubectl, set_name, missing_ok=True)}


def wait_until(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.5,
               what: str = "condition") -> Any:
    """Call `predicate` every `interval` seconds until it returns something true, and return that;
    fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def health_of(result: dict, ref: str) -> dict:
    """The `health` entry of one object (by its ref) in a k8s_reconcile result."""
    [entry] = [h for h in result["health"] if h["ref"] == ref]
    return {k: v for k, v in entry.items() if k != "ref"}


def module_params(module: str, **params: Any) -> dict:
    """A module's params as Ansible would pass them: the argument spec's defaults, then `params`."""
    import importlib
    spec = importlib.import_module(f"ansible_collections.gitops.core.plugins.modules.{module}").argument_spec()
    return {**{name: option.get("default") for name, option in spec.items()}, **params}
