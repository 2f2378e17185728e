"""Safe YAML loading: what untrusted manifests may and may not do."""
from __future__ import annotations

import pytest
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import load_all

BILLION_LAUGHS = """
a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_documents_come_back_with_index_and_line_and_empty_ones_are_skipped():
    docs = load_all("a: 1\n---\n---\nb: 2\n", "f.yaml")
    assert [(i, d) for i, _line, d in docs] == [(1, {"a": 1}), (3, {"b": 2})]
    assert docs[1][1] == 4


def test_duplicate_key_is_refused_with_both_lines():
    with pytest.raises(GitOpsError, match=r"f.yaml, document 1: duplicate key 'name' at line 3 \(first at line 2\)"):
        load_all("metadata:\n  name: a\n  name: b\n", "f.yaml")


def test_merge_keys_are_not_duplicates():
    docs = load_all("base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n", "f.yaml")
    assert docs[0][2]["d"] == {"x": 1, "y": 2}


def test_billion_laughs_is_refused_without_expanding():
    with pytest.raises(GitOpsError, match="alias bomb"):
        load_all(BILLION_LAUGHS, "bomb.yaml")


def test_modest_alias_use_is_fine():
    docs = load_all("labels: &l {app: web}\nselector: {matchLabels: *l}\n", "f.yaml")
    assert docs[0][2]["selector"]["matchLabels"] == {"app": "web"}


def test_recursive_alias_is_refused():
    with pytest.raises(GitOpsError, match="recursive YAML alias"):
        load_all("a: &a [*a]\n", "f.yaml")


def test_syntax_error_names_file_and_line():
    with pytest.raises(GitOpsError, match=r"bad.yaml: line 3 column \d+ YAML syntax error"):
        load_all("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml")


def test_python_tags_are_not_constructed():
    with pytest.raises(GitOpsError, match="bad.yaml"):
        load_all("a: !!python/object/apply:os.system ['true']\n", "bad.yaml")


def test_an_alias_needs_an_anchor_so_text_without_one_cannot_expand():
    # load_all walks the alias expansion only when the text has an "&": an alias without its anchor
    # is a syntax error, so nothing else can share nodes
    with pytest.raises(GitOpsError, match="bad.yaml"):
        load_all("a: [*x, *x]\n", "bad.yaml")
    docs = load_all("cron: '*/5 * * * *'\nglob: '*.yaml'\nand: 'a & b'\n", "f.yaml")
    assert docs[0][2] == {"cron": "*/5 * * * *", "glob": "*.yaml", "and": "a & b"}
