"""Repository URLs, ref names and ref resolution: the checks that run before git does."""
from __future__ import annotations

import pytest
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.gitsource import RepoUrl, check_version, explain, resolve, scrub


def test_https_credentials_are_split_off_the_url():
    url = RepoUrl("https://bot:s3cr%2Ft@git.example.com:8443/org/repo.git")
    assert url.url == url.display == "https://git.example.com:8443/org/repo.git"
    assert (url.username, url.password) == ("bot", "s3cr/t")
    assert "s3cr" not in url.cache_key


def test_same_repo_with_or_without_credentials_shares_a_cache():
    assert RepoUrl("https://a:b@h/r.git").cache_key == RepoUrl("https://h/r.git").cache_key


@pytest.mark.parametrize("bad, message", [
    ("ext::sh -c touch% /tmp/pwned", "transport helper"),
    ("fd::17", "transport helper"),
    ("--upload-pack=touch /tmp/x", "must not start with '-'"),
    ("-oProxyCommand=x", "must not start with '-'"),
    ("ftp://h/r.git", "scheme 'ftp' is not allowed"),
    ("https://h/r\n.git", "control character"),
    ("ssh://u:pw@h/r.git", "must not carry a password"),
    ("", "non-empty"),
])
def test_unsafe_urls_are_refused(bad, message):
    with pytest.raises(GitOpsError, match=message):
        RepoUrl(bad)


def test_scp_like_and_local_paths():
    assert RepoUrl("git@github.com:org/repo.git").kind == "ssh"
    local = RepoUrl("relative/repo.git")
    assert local.kind == "path" and local.url.startswith("/")


@pytest.mark.parametrize("bad", ["--upload-pack=evil", "-x", "a..b", "a b", "a~1", "a^", "x:y", "ref@{1}",
                                 "a/", "a.lock", "a\\b", "a*"])
def test_unsafe_versions_are_refused(bad):
    with pytest.raises(GitOpsError):
        check_version(bad)


@pytest.mark.parametrize("good", ["main", "release/1.2", "v1.0.0", "3f1c2e9", "refs/tags/v1", "feature_x-y+z"])
def test_ordinary_versions_pass(good):
    assert check_version(good) == good


REFS = {"HEAD->": "refs/heads/main", "HEAD": "a" * 40, "refs/heads/main": "a" * 40,
        "refs/heads/dev": "b" * 40, "refs/tags/v1": "c" * 40, "refs/tags/v1^{}": "d" * 40,
        "refs/heads/both": "e" * 40, "refs/tags/both": "f" * 40}


def test_default_branch_branch_and_tag_resolve_to_full_refs():
    assert resolve(REFS, None) == ("refs/heads/main", "a" * 40)
    assert resolve(REFS, "dev") == ("refs/heads/dev", "b" * 40)
    assert resolve(REFS, "v1") == ("refs/tags/v1", "c" * 40)
    assert resolve(REFS, "refs/tags/both") == ("refs/tags/both", "f" * 40)


def test_a_name_that_is_both_branch_and_tag_is_ambiguous():
    with pytest.raises(GitOpsError, match="names both a branch and a tag"):
        resolve(REFS, "both")


def test_hex_is_a_commit_and_unknown_names_are_refused():
    assert resolve(REFS, "deadbeef") == (None, None)
    with pytest.raises(GitOpsError, match="unknown ref 'nope'"):
        resolve(REFS, "nope")


def test_scrub_hides_plain_and_url_encoded_secrets():
    assert scrub("x p@ss/w y p%40ss%2Fw z", ["p@ss/w"]) == "x ******** y ******** z"


@pytest.mark.parametrize("stderr, hint", [
    # a port with "403" in it is not an HTTP 403 (found by the stall test on port 44039)
    ("fatal: unable to access 'http://127.0.0.1:44039/o.git/': Operation too slow. Less than 1000 bytes/sec "
     "transferred the last 3 seconds", "the transfer stalled"),
    ("fatal: unable to access 'https://git.example/o.git/': The requested URL returned error: 403",
     "authentication failed"),
    ("fatal: unable to access 'http://127.0.0.1:4403/o.git/': Failed to connect to 127.0.0.1 port 4403: "
     "Connection refused", "the repository is unreachable"),
])
def test_explain_names_the_cause_from_gits_message(stderr, hint):
    assert explain(stderr).startswith(hint)
