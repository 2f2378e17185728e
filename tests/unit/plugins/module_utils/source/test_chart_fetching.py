"""Charts fetched from repositories and registries (source/charts/, source/remote_charts.py), on plain
data: a hostile archive refused before anything is written, a provenance file's signed files read,
a chart entry checked field by field, the cache trusting only content that has its digest, and the
transport's rules for URLs.  The real servers are in tests/integration/test_chart_sources.py."""
from __future__ import annotations

import io
import tarfile

import pytest

from ansible_collections.gitops.core.plugins.module_utils.common import fields as f
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source import remote_charts
from ansible_collections.gitops.core.plugins.module_utils.source.charts import archive, cache, oci, provenance, repo
from ansible_collections.gitops.core.plugins.module_utils.source.charts.transport import Transport, check_url, display

CHART = b"apiVersion: v2\nname: web\nversion: 1.2.3\n"


def tgz(members):
    """A gzip tar of (name, bytes or a TarInfo type) members."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data not in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type, info.linkname = data, "/etc/passwd"
                tar.addfile(info)
    return out.getvalue()


def test_a_chart_archive_is_read_whole_and_written_under_its_folder(tmp_path):
    files = archive.read(tgz([("web/Chart.yaml", CHART), ("web/templates/cm.yaml", b"kind: ConfigMap\n")]),
                         "web", "1.2.3", "chart x", 1000)
    assert sorted(files) == ["Chart.yaml", "templates/cm.yaml"]
    top = archive.write(files, "web", str(tmp_path))
    assert (tmp_path / "web" / "templates" / "cm.yaml").read_bytes() == b"kind: ConfigMap\n" and top.endswith("/web")


@pytest.mark.parametrize("members, message", [
    ([("web/Chart.yaml", CHART), ("web/../../etc/cron.d/x", b"x")], "goes through '..'"),
    ([("web/Chart.yaml", CHART), ("/etc/passwd", b"x")], "is an absolute path"),
    ([("web/Chart.yaml", CHART), ("web/templates/link", tarfile.SYMTYPE)], "is a link or a special file"),
    ([("web/Chart.yaml", CHART), ("web/templates/hard", tarfile.LNKTYPE)], "is a link or a special file"),
    ([("web/Chart.yaml", CHART), ("other/Chart.yaml", CHART)], "is not inside the folder 'web/'"),
    ([("web/Chart.yaml", CHART), ("web/big.yaml", b"x" * 2000)], "over the limit of 1000 (max_file_bytes)"),
    ([("web/Chart.yaml", b"apiVersion: v2\nname: web\nversion: 9.9.9\n")], "holds chart web version 9.9.9, not web "
                                                                           "version 1.2.3 as asked"),
    ([("web/Chart.yaml", b"apiVersion: v2\nname: evil\nversion: 1.2.3\n")], "holds chart evil version 1.2.3"),
    ([("web/values.yaml", b"a: 1\n")], "has no web/Chart.yaml"),
])
def test_a_hostile_or_wrong_archive_is_refused_naming_the_member(members, message):
    with pytest.raises(GitOpsError) as err:
        archive.read(tgz(members), "web", "1.2.3", "chart x", 1000)
    assert message in err.value.message and err.value.message.startswith("chart x: ")


def test_an_archive_over_the_chart_limit_or_not_an_archive_is_refused():
    members = [("web/Chart.yaml", CHART)] + [("web/f%d.yaml" % i, b"x" * 900) for i in range(5)]
    with pytest.raises(GitOpsError, match="over 3000 bytes decompressed"):
        archive.read(tgz(members), "web", "1.2.3", "chart x", 1000, max_chart_bytes=3000)
    with pytest.raises(GitOpsError, match="not a readable chart archive"):
        archive.read(b"<html>not found</html>", "web", "1.2.3", "chart x", 1000)


def test_provenance_signed_files_are_read_from_the_signed_text_only():
    text = "apiVersion: v2\nname: web\nversion: 1.2.3\n\n...\nfiles:\n  web-1.2.3.tgz: sha256:abc\n"
    assert provenance.signed_files(text, "chart x") == {"web-1.2.3.tgz": "sha256:abc"}
    with pytest.raises(GitOpsError, match="signs no files: section"):
        provenance.signed_files("apiVersion: v2\nname: web\n", "chart x")
    with pytest.raises(GitOpsError, match="needs keys"):
        provenance.verify(None, b"", "sha256:x", "web-1.2.3.tgz", [], "chart x")


def test_the_cache_returns_only_content_that_still_has_its_digest(tmp_path):
    blobs = cache.Blobs(str(tmp_path))
    digest = blobs.put(b"chart bytes")
    assert blobs.get(digest) == b"chart bytes" and digest == cache.digest_of(b"chart bytes")
    with open(blobs.path(digest), "wb") as fh:
        fh.write(b"tampered")
    assert blobs.get(digest) is None and not (tmp_path / "sha256" / digest.split(":")[1]).exists()
    assert blobs.get("sha256:" + "0" * 64) is None


def test_a_version_resolved_once_is_read_back_only_while_its_content_is_cached(tmp_path):
    blobs = cache.Blobs(str(tmp_path))
    repo = "oci://registry.example/charts"
    assert blobs.version_digest(repo, "web", "1.2.3") is None
    digest = blobs.put(b"manifest")
    blobs.remember_version(repo + "/", "web", "1.2.3", digest)
    assert blobs.version_digest(repo, "web", "1.2.3") == digest
    assert blobs.version_digest(repo, "web", "1.2.4") is None and blobs.version_digest(repo, "api", "1.2.3") is None
    (tmp_path / "sha256" / digest.split(":")[1]).unlink()  # the content gone: fetched again
    assert blobs.version_digest(repo, "web", "1.2.3") is None


def test_urls_must_be_https_and_carry_no_credentials():
    check_url("https://charts.example.com/x", False, "chart x")
    check_url("http://charts.example.com/x", True, "chart x")
    with pytest.raises(GitOpsError, match="is not https; plain HTTP is refused unless the chart sets plain_http"):
        check_url("http://charts.example.com/x", False, "chart x")
    with pytest.raises(GitOpsError, match="must not carry credentials") as err:
        check_url("https://u:hunter2@charts.example.com/x", False, "chart x")
    assert "hunter2" not in err.value.message
    assert display("https://s3.example.com:8443/b/web.tgz?X-Amz-Signature=secret") == "https://s3.example.com:8443/b/web.tgz"


def test_credentials_are_a_token_or_basic_auth():
    assert Transport("x", {"token": "t0k"}).own_authorization() == "Bearer t0k"
    assert Transport("x", {"username": "u", "password": "p"}).own_authorization() == "Basic dTpw"
    assert Transport("x", {}).own_authorization() is None


def test_an_archive_on_another_host_is_refused_unless_allowed():
    assert repo.check_host("https://charts.example.com/a/web.tgz", "https://charts.example.com/a", [], "x") is True
    assert repo.check_host("https://cdn.example.net/web.tgz", "https://charts.example.com", ["CDN.example.net"], "x") is False
    with pytest.raises(GitOpsError, match="another host than the repository's; refused"):
        repo.check_host("https://cdn.example.net/web.tgz", "https://charts.example.com", [], "x")
    with pytest.raises(GitOpsError):  # same host name, other port: another origin
        repo.check_host("https://charts.example.com:8443/web.tgz", "https://charts.example.com", [], "x")


def test_oci_names_tags_and_layers():
    assert oci.base_url("oci://ghcr.io/org/charts", "web", False) == ("https://ghcr.io/v2/org/charts/web", "org/charts/web")
    assert oci.tag("1.2.3+build.4") == "1.2.3_build.4"
    manifest = (b'{"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json"},"layers":[{"mediaType":'
                b'"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:aa","size":3}]}')
    assert oci.layers(manifest, "x") == ({"digest": "sha256:aa", "size": 3}, None)
    with pytest.raises(GitOpsError, match="is not a Helm chart"):
        oci.layers(b'{"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[]}', "x")


ENTRY = {"repository": "oci://r.example.com/charts", "chart": "web", "version": "1.2.3", "digest": "sha256:" + "a" * 64}


@pytest.mark.parametrize("change, field, message", [
    ({"path": "charts/web"}, "repository", "not both"),
    ({"repository": "ftp://r.example.com"}, "repository", "must be an https:// chart repository or an oci:// registry"),
    ({"repository": "http://r.example.com"}, "repository", "is plain HTTP; refused unless plain_http is true"),
    ({"repository": "https://u:p@r.example.com"}, "repository", "must not carry credentials"),
    ({"chart": None}, "chart", "is required with repository"),
    ({"chart": "../web"}, "chart", "is not a chart name"),
    ({"digest": "sha256:ABC"}, "digest", "must be sha256:<64 lowercase hex digits>"),
    ({"credentials": "team"}, "credentials", "'team' is not among the play's credentials (registry)"),
    ({"trust": "nobody"}, "trust", "'nobody' is not among the play's trusted_keys (charts)"),
    ({"verify": "provenance"}, "verify", "provenance needs trust"),
])
def test_a_chart_entry_is_checked_naming_its_field(change, field, message):
    entry = dict(ENTRY, **change)
    with pytest.raises(f.Invalid) as err:
        remote_charts.check_entries({"charts": [{"path": "charts/a"}, entry]}, ["charts"], ["registry"])
    assert err.value.path == ("helm", "charts", 1, field) and message in err.value.message


def test_a_path_entry_takes_no_fetch_field_and_a_good_entry_passes():
    remote_charts.check_entries({"charts": [ENTRY, dict(ENTRY, digest=None, unpinned="accept", repository="http://x",
                                                        plain_http=True)]})
    with pytest.raises(f.Invalid) as err:
        remote_charts.check_entries({"charts": [{"path": "charts/web", "digest": ENTRY["digest"]}]})
    assert err.value.path == ("helm", "charts", 0, "digest") and "is for a fetched chart" in err.value.message
    with pytest.raises(GitOpsError, match=r"^helm.charts\[0\].path: is required"):
        remote_charts.check_module_entries({"helm": {"charts": [{"release_name": "x"}]}})
