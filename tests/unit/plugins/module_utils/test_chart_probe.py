"""What a chart's templates do when rendered (source/chart_probe.py): lookup calls turned into calls
that fail when executed, on the same line; the error that names the line; the fields two renders differ in."""
from __future__ import annotations

import io
import os
import tarfile

from ansible_collections.gitops.core.plugins.module_utils.common.objref import ObjectRef
from ansible_collections.gitops.core.plugins.module_utils.source import chart_probe
from files import write


def test_each_lookup_call_becomes_a_fail_call_on_its_line_and_nothing_else_changes():
    text = ('{{- $p := lookup "v1" "Secret" .Release.Namespace "x" }}\n'
            'name: {{ .Values.lookup }} {{ "lookup" }} {{/* lookup */}}\n'
            '{{- if (lookup "v1" "Namespace" "" "kube-system").metadata }}uid{{ end }}\n')
    out = chart_probe.neutralised(text)
    assert out.splitlines()[0] == '{{- $p := fail "v1" "Secret" .Release.Namespace "x" }}'
    assert out.splitlines()[1] == text.splitlines()[1]  # a value, a string and a comment are not calls
    assert out.splitlines()[2].startswith('{{- if (fail "v1"')
    assert out.count("\n") == text.count("\n") and not chart_probe.calls_lookup(out)


def test_notes_and_files_outside_templates_are_not_templates_that_make_objects():
    assert chart_probe.is_template("templates/secret.yaml") and chart_probe.is_template("charts/sub/templates/a.tpl")
    assert not chart_probe.is_template("templates/NOTES.txt") and not chart_probe.is_template("values.yaml")
    assert not chart_probe.is_template("files/templates.yaml")


def test_the_error_of_a_reached_call_names_its_template_and_line():
    err = ('Error: template: web/templates/apiservice.yaml:6:15: executing "web/templates/apiservice.yaml" at <fail>: '
           'wrong number of args for fail: want 1 got 4')
    assert chart_probe.reached(err) == ("web/templates/apiservice.yaml", 6)
    helm4 = ('Error: web/templates/a.yaml:1:11\n  executing "web/templates/a.yaml" at <fail>:\n'
             '    wrong number of args for fail: want 1 got 4\n')
    assert chart_probe.reached(helm4) == ("web/templates/a.yaml", 1)
    assert chart_probe.reached('Error: execution error at (web/templates/a.yaml:3:4): required value') is None


def test_a_probe_copy_neutralises_templates_and_calling_archives_but_not_notes(tmp_path):
    chart = tmp_path / "repo" / "web"
    write(chart, "Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n")
    write(chart, "templates/a.yaml", '{{ lookup "v1" "Secret" "" "x" }}\n')
    write(chart, "templates/NOTES.txt", '{{ lookup "v1" "Service" "" "x" }}\n')
    data = b'{{ (lookup "v1" "Secret" "" "y").data }}\n'
    (chart / "charts").mkdir()
    with tarfile.open(chart / "charts" / "sub-0.1.0.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("sub/templates/s.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    copy = chart_probe.probe_copy(str(chart), str(tmp_path / "probe"))
    assert open(os.path.join(copy, "templates/a.yaml")).read() == '{{ fail "v1" "Secret" "" "x" }}\n'
    assert "lookup" in open(os.path.join(copy, "templates/NOTES.txt")).read()
    assert not os.path.exists(os.path.join(copy, "charts/sub-0.1.0.tgz"))
    assert open(os.path.join(copy, "charts/sub/templates/s.yaml")).read().startswith('{{ (fail "v1"')
    assert (chart / "templates/a.yaml").read_text().startswith("{{ lookup")  # the checkout is untouched


def test_two_renders_differ_by_the_fields_named_never_their_values():
    ref = ObjectRef("", "v1", "Secret", "default", "gen")
    one = [(ref, {"kind": "Secret", "data": {"tls.crt": "AAA", "user": "admin"}})]
    two = [(ref, {"kind": "Secret", "data": {"tls.crt": "BBB", "user": "admin"}})]
    assert chart_probe.differences(one, two) == [("Secret default/gen", ["data[tls.crt]"])]
    assert chart_probe.differences(one, one) == []
    other = ObjectRef("", "v1", "ConfigMap", "default", "x-12ab")
    assert chart_probe.differences(one, one + [(other, {})]) == [("ConfigMap default/x-12ab", ["(the whole object)"])]
