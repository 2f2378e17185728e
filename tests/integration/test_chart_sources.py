"""Charts as users get them (issue 30): named in Git by an oci:// registry or an https:// chart
repository, a version and a digest, fetched by git_desired_state through real ansible-playbook from
real servers (chartservers.py: go-containerregistry's registry behind TLS and basic auth, charts
pushed by the real `helm push`; an HTTPS chart repository with signed provenance files made by the
real `helm package --sign`; cosign signatures made by the real cosign, built from its Go module),
rendered by the real helm and applied to the real control plane.

The chart is podinfo 6.14.1 (vendored under charts/, SOURCE.md there: the chart of Flux's own
benchmark), not a fixture of ours."""
from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import uuid
from pathlib import Path

import pytest

from chartservers import ChartRepo, CosignKey, OCIRegistry, SignKey, package, tls
from conftest import tasks_book
from gitfixtures import Repo

pytestmark = pytest.mark.integration

PODINFO = Path(__file__).resolve().parent / "charts" / "podinfo-6.14.1"  # SOURCE.md there
REGISTRY_PASSWORD = "reg-" + uuid.uuid4().hex
REPO_PASSWORD = "repo-" + uuid.uuid4().hex


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def index_yaml(entries: list[tuple[str, str, str, str]]) -> str:
    """A repository index of (chart, version, url, archive digest) entries, as `helm repo index` writes it."""
    lines = ["apiVersion: v1", "entries:"]
    for chart in sorted({e[0] for e in entries}):
        lines.append(f"  {chart}:")
        for name, version, url, digest in entries:
            if name == chart:
                lines += ["  - apiVersion: v2", f"    name: {name}", f"    version: {version}",
                          f"    digest: {digest.split(':', 1)[1]}", f"    urls: [{url}]"]
    return "\n".join(lines) + "\n"


def hostile_archive(path: Path) -> None:
    """hostile-0.1.0.tgz: a chart whose archive also writes ../escaped.yaml."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in (("hostile/Chart.yaml", "apiVersion: v2\nname: hostile\nversion: 0.1.0\n"),
                           ("hostile/../escaped.yaml", "x: 1\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def servers(tmp_path):
    certs = tls(tmp_path / "tls")
    registry = OCIRegistry(tmp_path / "registry", certs, "puller", REGISTRY_PASSWORD)
    repo = ChartRepo(tmp_path / "repo", certs, "reader", REPO_PASSWORD)
    (tmp_path / "registry").mkdir()
    (tmp_path / "repo" / "www").mkdir(parents=True)
    registry.start()
    repo.start()
    yield registry, repo, certs
    registry.stop()
    repo.stop()


def test_pinned_charts_from_a_registry_and_a_repository_apply_come_from_the_cache_and_survive_an_outage(
        tmp_path, servers, ansible_playbook, kubectl, namespace):
    registry, chartrepo, certs = servers
    helm_home = tmp_path / "helm"
    carol, mallory = SignKey(tmp_path, "carol"), SignKey(tmp_path, "mallory")
    built = tmp_path / "built"
    signed = package(PODINFO, built / "signed", helm_home, keyring=carol.keyring, key=carol.uid)
    oci_digest = registry.push(signed, helm_home)  # with its .prov: helm push takes it from beside the archive
    other = package(PODINFO, built / "other", helm_home, version="6.14.2", keyring=mallory.keyring, key=mallory.uid)
    www = tmp_path / "repo" / "www"
    for archive in (signed, other):
        for path in (archive, Path(str(archive) + ".prov")):
            (www / path.name).write_bytes(path.read_bytes())
    hostile_archive(www / "hostile-0.1.0.tgz")
    (www / "redirected").mkdir()
    (www / "podinfo-6.14.1.tgz").replace(www / "redirected" / "podinfo-6.14.1.tgz")
    (www / "podinfo-6.14.1.tgz.prov").replace(www / "redirected" / "podinfo-6.14.1.tgz.prov")
    (www / "index.yaml").write_text(index_yaml([
        # the archive is on another host name: a redirect to https://localhost:PORT/public/...
        ("podinfo", "6.14.1", "redirect/redirected/podinfo-6.14.1.tgz", sha256(signed)),
        ("podinfo", "6.14.2", "podinfo-6.14.2.tgz", sha256(other)),
        ("hostile", "0.1.0", "hostile-0.1.0.tgz", sha256(www / "hostile-0.1.0.tgz")),
    ]))

    git = Repo(tmp_path)
    git.commit({"apps/podinfo/values.yaml": "replicaCount: 2\n", "apps/podinfo/values-repo.yaml": "replicaCount: 3\n"})
    credentials = {"registry": {"username": "puller", "password": REGISTRY_PASSWORD, "ca_file": str(certs["ca"])},
                   "repo": {"username": "reader", "password": REPO_PASSWORD, "ca_file": str(certs["ca"])}}
    trusted = {"charts": {"gpg_keys": [carol.public]}}
    cache = str(tmp_path / "chart-cache")
    oci_entry = {"repository": registry.url, "chart": "podinfo", "version": "6.14.1", "digest": oci_digest,
                 "credentials": "registry", "verify": "provenance", "trust": "charts", "release_name": "from-oci",
                 "values_files": ["apps/podinfo/values.yaml"]}
    repo_entry = {"repository": chartrepo.url, "chart": "podinfo", "version": "6.14.1", "digest": sha256(signed),
                  "credentials": "repo", "verify": "provenance", "trust": "charts", "release_name": "from-repo",
                  "values_files": ["apps/podinfo/values-repo.yaml"], "allowed_hosts": ["localhost"]}
    desired = {"repo": git.url, "dest": str(tmp_path / "git-cache"), "path": ["apps/podinfo"],
               "credentials": credentials, "trusted_keys": trusted,
               "helm": {"release_namespace": namespace, "cache_dir": cache, "charts": [oci_entry, repo_entry]}}
    set_name = "c" + uuid.uuid4().hex[:10]
    reconcile = {"set_name": set_name, "kubeconfig": "{{ kubeconfig }}", "objects": "{{ first.objects }}",
                 "revision": "{{ first.commit }}"}

    def with_chart(entry, **changes):
        return dict(desired, helm=dict(desired["helm"], charts=[dict(entry, **changes)]))

    fresh = {"cache_dir": str(tmp_path / "fresh-cache")}
    book = tasks_book([
        ("git_desired_state", desired), ("k8s_reconcile", reconcile),
        ("git_desired_state", desired), ("k8s_reconcile", dict(reconcile, objects="{{ second.objects }}")),
    ], names=["first", "applied", "second", "again"])
    # the outage: both servers killed; the pinned charts still render, from the cache
    book += (f"    - name: Registry and repository down\n      ansible.builtin.command: kill -9 {registry.proc.pid} "
             f"{chartrepo.proc.pid}\n      changed_when: true\n")
    book += tasks_book([
        ("git_desired_state", desired),
        ("git_desired_state", dict(desired, helm=dict(desired["helm"], **fresh))),
    ], names=["outage", "outage_uncached"]).split("  tasks:\n")[1]
    run = ansible_playbook(book, args=("-vvv",))
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    r = run.results
    for secret in (REGISTRY_PASSWORD, REPO_PASSWORD):
        assert secret not in run.stdout + run.stderr  # -vvv: invocations, results, failures

    first = r["first"]
    assert not first.get("failed"), first.get("msg")
    by_ref = {s["ref"]: (o, s) for o, s in zip(first["objects"], first["sources"])}
    oci_deploy, oci_source = by_ref[f"apps/Deployment {namespace}/from-oci-podinfo"]
    repo_deploy = by_ref[f"apps/Deployment {namespace}/from-repo-podinfo"][0]
    assert (oci_deploy["spec"]["replicas"], repo_deploy["spec"]["replicas"]) == (2, 3)  # values files from Git
    assert oci_source["file"] == f"{registry.url}/podinfo@6.14.1/templates/deployment.yaml"
    assert first["files"] == []  # the values files are not loaded as manifests
    charts = {c["repository"]: c for c in first["charts"]}
    oci_info, repo_info = charts[registry.url], charts[chartrepo.url]
    assert oci_info["release"] == f"{namespace}/from-oci"
    assert oci_info["digest"] == oci_digest and oci_info["archive_digest"] == sha256(signed)
    assert repo_info["digest"] == sha256(signed)
    assert not oci_info["from_cache"] and oci_info["requests"] >= 3 and oci_info["pinned"]
    assert oci_info["provenance"] and oci_info["provenance"] == repo_info["provenance"]  # carol's fingerprint
    assert f"{registry.url}/podinfo@6.14.1 {oci_digest}" in first["source"]["charts"]
    # the archive behind the redirect to another host name was fetched without the credentials
    public = [q for q in chartrepo.requests() if q["path"].startswith("/public/")]
    assert public and not any(q["authorization"] for q in public), chartrepo.requests()
    assert all(q["authorization"] for q in chartrepo.requests() if q["path"] == "/index.yaml")

    assert not r["applied"].get("failed"), r["applied"].get("msg")
    assert f"apps/Deployment {namespace}/from-oci-podinfo" in r["applied"]["created"]
    assert kubectl.json("get", "deployment", "from-repo-podinfo", "-n", namespace)["spec"]["replicas"] == 3

    second = r["second"]
    assert all(c["from_cache"] and c["requests"] == 0 for c in second["charts"]), second["charts"]
    assert second["digest"] == first["digest"]
    assert r["again"]["changed"] is False, r["again"]

    outage = r["outage"]
    assert not outage.get("failed") and outage["digest"] == first["digest"], outage.get("msg")
    assert all(c["from_cache"] for c in outage["charts"])
    uncached = r["outage_uncached"]
    assert uncached["failed"] and "cannot be reached" in uncached["msg"] and registry.url in uncached["msg"]


def test_a_moved_tag_a_bad_provenance_an_unpinned_chart_and_a_hostile_archive_are_refused(
        tmp_path, servers, ansible_playbook):
    registry, chartrepo, certs = servers
    helm_home = tmp_path / "helm"
    carol, mallory = SignKey(tmp_path, "carol"), SignKey(tmp_path, "mallory")
    built = tmp_path / "built"
    first = package(PODINFO, built / "first", helm_home)
    pinned = registry.push(first, helm_home)
    # the same version published again with other content: the tag moves
    moved_chart = tmp_path / "moved" / "podinfo"
    moved_chart.parent.mkdir()
    shutil.copytree(PODINFO, moved_chart)
    values = (PODINFO / "values.yaml").read_text()
    (moved_chart / "values.yaml").write_text(values.replace("replicaCount: 1", "replicaCount: 9"))
    moved = registry.push(package(moved_chart, built / "moved", helm_home), helm_home)
    assert moved != pinned

    www = tmp_path / "repo" / "www"
    bad = package(PODINFO, built / "bad", helm_home, keyring=mallory.keyring, key=mallory.uid)
    for path in (bad, Path(str(bad) + ".prov")):
        (www / path.name).write_bytes(path.read_bytes())
    hostile_archive(www / "hostile-0.1.0.tgz")
    (www / "index.yaml").write_text(index_yaml([
        ("podinfo", "6.14.1", "podinfo-6.14.1.tgz", sha256(bad)),
        ("hostile", "0.1.0", "hostile-0.1.0.tgz", sha256(www / "hostile-0.1.0.tgz")),
        ("elsewhere", "0.1.0", "https://charts.example.invalid/elsewhere-0.1.0.tgz", "sha256:" + "0" * 64),
    ]))
    git = Repo(tmp_path)
    # a chart of the checkout whose dependency comes from the registry, pinned by its Chart.lock
    umbrella = "apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: podinfo\n    version: 6.14.1\n" \
               f"    repository: {registry.url}\n"
    lock = f"dependencies:\n- name: podinfo\n  repository: {registry.url}\n  version: 6.14.1\n" \
           "digest: sha256:" + "1" * 64 + "\ngenerated: \"2026-12-01T00:00:00Z\"\n"
    git.commit({"apps/values.yaml": "logLevel: debug\n", "charts/umbrella/Chart.yaml": umbrella,
                "charts/umbrella/Chart.lock": lock, "charts/umbrella/values.yaml": "podinfo: {replicaCount: 4}\n",
                "charts/unlocked/Chart.yaml": umbrella.replace("umbrella", "unlocked")})
    credentials = {"registry": {"username": "puller", "password": REGISTRY_PASSWORD, "ca_file": str(certs["ca"])},
                   "repo": {"username": "reader", "password": REPO_PASSWORD, "ca_file": str(certs["ca"])},
                   "wrong": {"username": "puller", "password": "not-" + REGISTRY_PASSWORD, "ca_file": str(certs["ca"])}}
    base = {"repo": git.url, "dest": str(tmp_path / "git-cache"), "path": ["apps"], "credentials": credentials,
            "trusted_keys": {"charts": {"gpg_keys": [carol.public]}}}
    oci = {"repository": registry.url, "chart": "podinfo", "version": "6.14.1", "credentials": "registry",
           "values_files": ["apps/values.yaml"]}
    repo = {"repository": chartrepo.url, "credentials": "repo", "version": "0.1.0", "values_files": ["apps/values.yaml"]}

    def desired(entry, cache="cache"):
        return dict(base, helm={"cache_dir": str(tmp_path / cache), "charts": [entry]})

    tasks = [
        ("git_desired_state", desired(dict(oci, digest=pinned))),                        # moved
        ("git_desired_state", desired(oci)),                                             # unpinned
        ("git_desired_state", desired(dict(oci, unpinned="accept"))),                    # accepted
        ("git_desired_state", desired(dict(oci, digest=moved, credentials="wrong"), "c2")),  # wrong password
        ("git_desired_state", desired(dict(repo, chart="podinfo", repository=chartrepo.url.replace("https", "http"),
                                           digest=moved))),                              # plain HTTP, not opted in
        ("git_desired_state", desired(dict(repo, chart="podinfo", version="6.14.1", digest=sha256(bad),
                                           verify="provenance", trust="charts"))),       # signed by mallory
        ("git_desired_state", desired(dict(repo, chart="hostile", digest=sha256(www / "hostile-0.1.0.tgz")))),
        ("git_desired_state", desired(dict(repo, chart="elsewhere", digest="sha256:" + "0" * 64))),
        ("git_desired_state", desired(dict(oci, digest=pinned, trust="nobody"))),        # not the play's
        ("git_desired_state", dict(base, path=["charts/umbrella"], helm={
            "cache_dir": str(tmp_path / "cache"), "dependencies": "fetch",
            "dependency_credentials": {registry.url: "registry"}})),                      # Chart.lock's, fetched
        ("git_desired_state", dict(base, path=["charts/umbrella"], helm={
            "cache_dir": str(tmp_path / "cache"), "dependencies": "fetch",
            "dependency_credentials": {registry.url: "registry"}})),                      # the same, from the cache
        ("git_desired_state", dict(base, path=["charts/umbrella"], helm={"cache_dir": str(tmp_path / "cache")})),
        ("git_desired_state", dict(base, path=["charts/unlocked"], helm={
            "cache_dir": str(tmp_path / "cache"), "dependencies": "fetch"})),               # no Chart.lock
    ]
    names = ["moved", "unpinned", "accepted", "wrong", "plain", "prov", "hostile", "elsewhere", "untrusted",
             "dependency", "dependency_cached", "vendored_only", "unlocked"]
    run = ansible_playbook(tasks_book(tasks, names=names), args=("-vvv",))
    r = run.results
    assert "not-" + REGISTRY_PASSWORD not in run.stdout + run.stderr and REPO_PASSWORD not in run.stdout + run.stderr
    what = f"chart {registry.url}/podinfo 6.14.1"
    assert r["moved"]["failed"] and r["moved"]["msg"] == (
        f"{what}: the repository now serves {moved}, not the pinned {pinned} (the version was re-published or the "
        "tag moved); refused - review the new chart and pin its digest")
    assert r["unpinned"]["failed"] and f"has no digest; pin it (digest: {moved} is what" in r["unpinned"]["msg"]
    accepted = r["accepted"]
    assert not accepted.get("failed"), accepted.get("msg")
    [info] = accepted["charts"]
    assert info["digest"] == moved and not info["pinned"]
    assert {o["spec"]["replicas"] for o in accepted["objects"] if o["kind"] == "Deployment"} == {9}
    assert r["wrong"]["failed"] and "refused the credentials" in r["wrong"]["msg"]
    assert r["plain"]["failed"] and r["plain"]["msg"].startswith("helm.charts[0].repository: 'http://127.0.0.1:")
    assert "is plain HTTP; refused unless plain_http is true" in r["plain"]["msg"]
    assert r["prov"]["failed"] and "signature is not good (signed by a key the chart's trust does not hold)" in r[
        "prov"]["msg"]
    assert r["hostile"]["failed"] and "archive member 'hostile/../escaped.yaml' is an absolute path or goes through" \
        in r["hostile"]["msg"]
    assert not (tmp_path / "escaped.yaml").exists()
    assert r["elsewhere"]["failed"] and "another host than the repository's; refused" in r["elsewhere"]["msg"]
    assert r["untrusted"]["failed"] and r["untrusted"]["msg"].startswith(
        "helm.charts[0].trust: 'nobody' is not among the play's trusted_keys (charts)")
    dependency = r["dependency"]
    assert not dependency.get("failed"), dependency.get("msg")
    [deploy] = [o for o in dependency["objects"] if o["kind"] == "Deployment"]
    assert deploy["metadata"]["name"] == "umbrella-podinfo" and deploy["spec"]["replicas"] == 4  # the parent's values
    [dep_info] = dependency["charts"]
    assert (dep_info["dependency_of"], dep_info["chart"], dep_info["digest"]) == ("charts/umbrella", "podinfo", moved)
    assert dep_info["requests"] > 0 and not dep_info["from_cache"]
    [again] = r["dependency_cached"]["charts"]  # the version resolved once, rendered again with no request
    assert (again["digest"], again["from_cache"], again["requests"]) == (moved, True, 0)
    assert r["vendored_only"]["failed"] and "set helm.dependencies=fetch to fetch it as Chart.lock pins it" in r[
        "vendored_only"]["msg"]
    assert r["unlocked"]["failed"] and "the chart has none: run `helm dependency update` and commit Chart.lock" in r[
        "unlocked"]["msg"]
    assert not any(r[n].get("objects") for n in names if n not in ("accepted", "dependency", "dependency_cached"))


def test_cosign_signatures_of_both_shapes_verify_from_the_registry_and_the_cache_and_others_are_refused(
        tmp_path, servers, ansible_playbook):
    registry, _chartrepo, certs = servers
    modern = OCIRegistry(tmp_path / "modern", certs, "puller", REGISTRY_PASSWORD)
    modern.referrers = True  # the OCI 1.1 referrers API; `registry` lacks it, so cosign writes its tag instead
    (tmp_path / "modern").mkdir()
    modern.start()
    try:
        helm_home, built = tmp_path / "helm", tmp_path / "built"
        alice, mallory = CosignKey(tmp_path, "alice"), CosignKey(tmp_path, "mallory")
        digests = {}
        for version in ("6.14.1", "6.14.2", "6.14.3", "6.14.4"):
            digests[version] = registry.push(package(PODINFO, built / version, helm_home, version=version), helm_home)
        modern_digest = modern.push(built / "6.14.1" / "podinfo-6.14.1.tgz", helm_home)
        alice.sign(registry, "podinfo", digests["6.14.1"])                  # a bundle, found through the tag
        alice.sign(modern, "podinfo", modern_digest)                        # a bundle, found through referrers
        alice.sign(registry, "podinfo", digests["6.14.2"], bundle=False)    # simple signing (cosign 2's shape)
        mallory.sign(registry, "podinfo", digests["6.14.3"])                # by a key the play does not trust

        git = Repo(tmp_path)
        git.commit({"apps/values.yaml": "replicaCount: 2\n"})
        credentials = {"registry": {"username": "puller", "password": REGISTRY_PASSWORD, "ca_file": str(certs["ca"])}}
        base = {"repo": git.url, "dest": str(tmp_path / "git-cache"), "path": ["apps"], "credentials": credentials,
                "trusted_keys": {"charts": {"cosign_keys": [alice.public]}, "gpg-only": {"gpg_keys": []}}}

        def entry(version, repository=registry.url, **extra):
            return dict({"repository": repository, "chart": "podinfo", "version": version, "credentials": "registry",
                         "verify": "cosign", "trust": "charts", "digest": digests[version],
                         "values_files": ["apps/values.yaml"], "release_name": "r" + version.replace(".", "")}, **extra)

        def desired(*charts):
            return dict(base, helm={"cache_dir": str(tmp_path / "cache"), "charts": list(charts)})

        signed = desired(entry("6.14.1"), entry("6.14.1", modern.url, digest=modern_digest, release_name="modern"),
                         entry("6.14.2"))
        tasks = [("git_desired_state", signed), ("git_desired_state", signed),
                 ("git_desired_state", desired(entry("6.14.3"))), ("git_desired_state", desired(entry("6.14.4"))),
                 ("git_desired_state", desired(entry("6.14.1", "https://charts.example.invalid"))),
                 ("git_desired_state", desired(entry("6.14.1", trust="gpg-only")))]
        names = ["signed", "cached", "mallory", "unsigned", "repository", "no_keys"]
        run = ansible_playbook(tasks_book(tasks, names=names), args=("-vvv",))
    finally:
        modern.stop()
    r = run.results
    assert REGISTRY_PASSWORD not in run.stdout + run.stderr
    assert not r["signed"].get("failed"), r["signed"].get("msg")
    got = [(c["repository"], c["version"], c["cosign"]["format"], c["cosign"]["key"]) for c in r["signed"]["charts"]]
    assert got == [(registry.url, "6.14.1", "bundle", "trusted_keys.charts.cosign_keys[0]"),
                   (modern.url, "6.14.1", "bundle", "trusted_keys.charts.cosign_keys[0]"),
                   (registry.url, "6.14.2", "simplesigning", "trusted_keys.charts.cosign_keys[0]")]
    assert len({c["cosign"]["fingerprint"] for c in r["signed"]["charts"]}) == 1
    cached = r["cached"]  # the chart and its signatures from the cache: verified again, no request
    assert not cached.get("failed"), cached.get("msg")
    assert all(c["from_cache"] and c["requests"] == 0 and c["cosign"] for c in cached["charts"]), cached["charts"]
    what = f"chart {registry.url}/podinfo"
    assert r["mallory"]["failed"] and r["mallory"]["msg"] == (
        f"{what} 6.14.3: none of the 1 cosign signatures of {digests['6.14.3']} is good: not by a trusted key; refused")
    assert r["unsigned"]["failed"] and r["unsigned"]["msg"] == (
        f"{what} 6.14.4: verify=cosign, but the registry holds no cosign signature of {digests['6.14.4']} (sign it "
        "with `cosign sign --key`); refused")
    assert r["repository"]["failed"] and r["repository"]["msg"].startswith(
        "helm.charts[0].verify: cosign signs charts in an OCI registry")
    assert r["no_keys"]["failed"] and r["no_keys"]["msg"] == (
        f"{what} 6.14.1: verify=cosign needs keys: trusted_keys.gpg-only.cosign_keys is empty or missing")
    assert not any(r[n].get("objects") for n in names[2:])
