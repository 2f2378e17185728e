"""The house in layers: every file of plugins/module_utils sits in exactly one layer (a subpackage),
and a layer imports only itself and the layers below it.  The rules are read from the files' own
import statements (ast), so a file added, moved or importing upward fails here by name."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[4] / "plugins" / "module_utils"
PACKAGE = "ansible_collections.gitops.core.plugins.module_utils"

# layer -> the layers it may import (itself included).  common is the floor; cluster, observe and the
# source side stand side by side on it; the engine builds on cluster and observe; report on the engine;
# jobs (what the modules call) on everything.  source/secrets and source/charts (fetching charts) sit under
# the rest of the source side.
ALLOWED = {
    "common": {"common"},
    "cluster": {"common", "cluster"},
    "observe": {"common", "observe"},
    "source.secrets": {"common", "source.secrets"},
    "source.charts": {"common", "source.charts"},
    "source": {"common", "source.secrets", "source.charts", "source"},
    "engine": {"common", "cluster", "observe", "engine"},
    "report": {"common", "observe", "engine", "report"},
    "jobs": {"common", "cluster", "observe", "source", "source.secrets", "source.charts", "engine", "report", "jobs"},
}


def layer_of(dotted):
    """The layer of a module_utils module given as `layer.file` or `layer.sub.file` (the longest known prefix)."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in ALLOWED:
            return ".".join(parts[:n])
    return None


def imported(source, own_package):
    """The module_utils modules (relative to module_utils, dotted) that python `source` imports, with line numbers."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against the file's own package
                pkg = own_package.split(".")
                base = ".".join(pkg[:len(pkg) - node.level + 1] + ([node.module] if node.module else []))
            if base == PACKAGE:
                found += [(alias.name, node.lineno) for alias in node.names]
            elif base.startswith(PACKAGE + "."):
                rest = base[len(PACKAGE) + 1:]
                # `from ...engine import plan` names a module; `from ...engine.plan import X` names a member
                found += [(rest + "." + a.name if layer_of(rest) == rest else rest, node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name[len(PACKAGE) + 1:], node.lineno) for a in node.names if a.name.startswith(PACKAGE + ".")]
    return found


def violations(layer, source, own_package=PACKAGE):
    """'line N imports X (layer L)' for each import of `source`, a file of `layer`, that the rules forbid."""
    out = []
    for name, line in imported(source, own_package):
        target = layer_of(name)
        if target is None:
            out.append("line %d imports %s, which is in no layer" % (line, name))
        elif target not in ALLOWED[layer]:
            out.append("line %d imports %s (layer %s)" % (line, name, target))
    return out


def files():
    return sorted(p for p in UTILS.rglob("*.py") if p.name != "__init__.py")


def layer_of_file(path):
    return ".".join(path.relative_to(UTILS).parent.parts)


def test_every_file_sits_in_exactly_one_known_layer():
    strays = [str(p.relative_to(UTILS)) for p in files() if layer_of_file(p) not in ALLOWED]
    assert strays == []
    assert {layer_of_file(p) for p in files()} == set(ALLOWED), "a layer without files, or a file outside the layers"


def test_subpackage_inits_are_empty():
    """AnsiballZ ships every __init__.py on a module's import path: they carry nothing."""
    inits = list(UTILS.rglob("__init__.py"))
    assert len(inits) >= len(ALLOWED)
    assert [str(p) for p in inits if p.read_text().strip()] == []


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(UTILS)))
def test_a_layer_imports_only_itself_and_the_layers_below(path):
    layer = layer_of_file(path)
    own = PACKAGE + "." + layer
    assert violations(layer, path.read_text(), own) == []


def test_the_rules_see_real_imports():
    """The reader finds imports in every form the files use; an empty reading would pass everything."""
    engine = (UTILS / "engine" / "engine.py").read_text()
    names = {name for name, _line in imported(engine, PACKAGE + ".engine")}
    assert {"engine.plan", "engine.apply", "cluster.discovery", "common.errors"} <= names
    assert sum(len(imported(p.read_text(), PACKAGE)) for p in files()) > 100


@pytest.mark.parametrize("layer, line, target", [
    ("engine", "from %s.report import result" % PACKAGE, "report"),
    ("engine", "from %s.report.result import error_entry" % PACKAGE, "report"),
    ("common", "from %s.source.secrets import encrypted" % PACKAGE, "source.secrets"),
    ("cluster", "from %s.engine.lifecycle import DEPLOY_TOOLS" % PACKAGE, "engine"),
    ("cluster", "import %s.source.manifests" % PACKAGE, "source"),
    ("observe", "from %s.source import helm" % PACKAGE, "source"),
    ("source.secrets", "from %s.source import manifests" % PACKAGE, "source"),
    ("source", "from %s.cluster import kube" % PACKAGE, "cluster"),
    ("report", "from %s.jobs import drift" % PACKAGE, "jobs"),
    ("engine", "from .. import report", "report"),
    ("engine", "from ..report import result", "report"),
])
def test_each_rule_can_fail(layer, line, target):
    """Each upward import the review found (and one per rule) is caught, in absolute and relative form."""
    found = violations(layer, line + "\n", PACKAGE + "." + layer)
    assert found and "(layer %s)" % target in found[0], found


def test_a_module_outside_the_layers_is_named():
    assert violations("engine", "from %s import stray\n" % PACKAGE) == [
        "line 1 imports stray, which is in no layer"]
