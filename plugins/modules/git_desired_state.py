#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: git_desired_state
short_description: Fetch the desired state of a cluster from Git, verified and loaded
version_added: 0.1.0
description:
  - Resolves a branch, tag or commit of a Git repository to one commit, fetches it into a local
    cache, optionally requires a good GPG or SSH signature by a trusted key, and returns the
    Kubernetes objects found (or rendered with Jinja2, Kustomize or Helm) under the given paths.
  - The result feeds M(gitops.core.k8s_reconcile) and M(gitops.core.drift_check).
  - Nothing outside O(dest) is written. Credentials never appear in the result, in messages, in
    the cache's C(.git/config) or in the remote URL; the repository is fetched by URL without a
    configured remote.
  - The user's and system's git configuration are ignored, so no hook, credential helper or alias
    of the machine runs; only the https, http, ssh, git and file protocols are allowed.
author:
  - gitops.core developers (@gitops-core)
requirements:
  - git
  - gnupg (for O(gpg_keys))
  - openssh-client (for SSH remotes and O(allowed_signers))
  - PyYAML
  - Jinja2 (for Jinja rendering)
  - kustomize or kubectl (for Kustomize rendering)
  - helm 3 or 4 (for Helm charts; tested with 3.22 and 4.3)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - The repository is still fetched into the cache in check mode; the cache is not managed
        state, and the objects are needed to plan the next tasks.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - The action plugin hands the play's vault secrets to the module (O(decryption.vault_secrets)).
options:
  repo:
    description:
      - The repository. V(https://), V(http://), V(ssh://), V(git://), V(file://), V(user@host:path)
        or a local path.
      - Credentials in an https URL (V(https://user:token@host/repo.git)) are split off and used as
        O(username) and O(password).
    type: str
    required: true
  version:
    description:
      - Branch, tag or commit SHA (full or abbreviated) to fetch. V(refs/heads/NAME) and
        V(refs/tags/NAME) are accepted too, and are required when a name is both a branch and a tag.
      - Defaults to the remote's default branch.
      - A force-pushed branch is followed; the cache is reset to whatever the branch points to now.
    type: str
  path:
    description:
      - Folders or files of the repository that hold the desired state, relative to its root.
      - A path that resolves outside the repository, also through symlinks, is refused.
    type: list
    elements: str
    default: ['.']
  recursive:
    description: Whether to descend into sub-folders of the O(path) folders.
    type: bool
    default: true
  include:
    description:
      - Globs of file names (or paths relative to the repository root) to load.
      - Defaults to V(*.yaml), V(*.yml), V(*.json), and V(*.j2) unless O(render=plain).
    type: list
    elements: str
  exclude:
    description:
      - Globs of file names (or relative paths) to skip.
      - A kustomization or chart folder found below a O(path) folder is skipped, as a whole, when its name or
        path matches (for example V(charts/*)).
    type: list
    elements: str
    default: []
  render:
    description:
      - V(auto) renders a folder that holds a C(kustomization.yaml) with Kustomize, a folder that holds
        a C(Chart.yaml) with Helm (see O(helm)), C(*.j2) files with Jinja2 and O(template_vars), and
        loads other files as YAML or JSON. A folder with both files is rendered with Kustomize.
      - V(plain) loads YAML and JSON only. V(jinja) renders every included file as a template.
        V(kustomize) requires every O(path) to be a kustomization folder, V(helm) every O(path) to be
        a chart folder.
      - Kustomize runs as C(kustomize build) or C(kubectl kustomize) with the root-only load restrictor;
        remote bases and C(helmCharts) are refused, since they would load content that the fetched
        (and verified) commit does not pin.
      - Jinja2 templates render in a sandbox with strict undefined variables. C(include), C(import) and
        C(extends) name other templates by their path from the repository root (for example
        V(partials/labels.j2)); they are read with the same size limit as any file, and a name that
        is missing or resolves outside the checkout is a clear error.
    type: str
    choices: [auto, plain, jinja, kustomize, helm]
    default: auto
  template_vars:
    description: Variables for Jinja2 templates.
    type: dict
    default: {}
  helm:
    description:
      - How Helm charts are rendered (C(helm template), client side only) - charts of the checkout, and charts
        fetched from chart repositories and OCI registries that O(helm.charts) names by O(helm.charts[].repository),
        O(helm.charts[].chart), O(helm.charts[].version) and O(helm.charts[].digest) (docs/helm.md).
      - A chart of the checkout, each values file and each dependency must be part of the checkout. Dependencies
        must be vendored in the chart's own C(charts/) folder (C(helm dependency build), then commit
        C(charts/)); a dependency that is not there, a C(lookup) call that rendering reaches,
        and any file or symlink resolving outside the checkout are refused, naming the chart and the
        reason. Helm itself fetches nothing.
      - Helm runs with an empty home, config, cache, plugin folder and kubeconfig of its own, so no
        repository, registry login or plugin of the machine is used; no post-renderer is run.
        Test hooks are skipped (C(--skip-tests)). Helm's error text is returned without the values it quotes
        (a values-schema error's value, and each string of 3 or more characters of the values files and
        O(helm.release_values)).
      - Each rendered object keeps its template file (for example V(charts/web/templates/deployment.yaml))
        in RV(sources), so errors and drift reports name it.
      - An object annotated C(helm.sh/resource-policy=keep) gets C(gitops.core/prune=disabled) (unless set),
        so it is left in place, not pruned, when it leaves the chart.
    type: dict
    default: {}
    suboptions:
      release_name:
        description: Release name (C(.Release.Name)). Defaults to the chart folder's name.
        type: str
      release_namespace:
        description: Release namespace (C(.Release.Namespace), C(--namespace)).
        type: str
        default: default
      values_files:
        description:
          - Values files, paths from the repository root, applied in order after the chart's own
            C(values.yaml) (for example V([clusters/prod/web.yaml])). Each must be a file of the
            checkout; one resolving outside it, also through a symlink, is refused.
        type: list
        elements: str
        default: []
      release_values:
        description: Values given inline; they win over O(helm.values_files).
        type: dict
        default: {}
      include_crds:
        description: Whether to render the CRDs of the chart's C(crds/) folder (C(--include-crds)).
        type: bool
        default: true
      kube_version:
        description:
          - The target cluster's Kubernetes version (C(--kube-version)) for C(.Capabilities.KubeVersion).
          - Set it (and O(helm.api_versions)) to the cluster's, so that charts checking capabilities
            render what they would on that cluster; otherwise Helm's built-in default applies.
        type: str
      api_versions:
        description:
          - API versions the target serves (C(--api-versions)), added to Helm's built-in set for
            C(.Capabilities.APIVersions.Has), for example V(monitoring.coreos.com/v1) or
            V(monitoring.coreos.com/v1/ServiceMonitor).
        type: list
        elements: str
        default: []
      hooks:
        description:
          - What to do with objects annotated C(helm.sh/hook).
          - V(helm) (the default) keeps them as hooks, marked with the release (C(gitops.core/release)) and the
            digest of the whole rendered release (C(gitops.core/release-digest)). M(gitops.core.k8s_reconcile)
            then runs them as C(helm upgrade) does - when the release changed since its hooks last succeeded,
            C(pre-install)/C(pre-upgrade) hooks before the release's other objects and C(post-install)/C(post-upgrade)
            ones after them, in C(helm.sh/hook-weight) order, waiting for Jobs and Pods to complete and honouring
            C(helm.sh/hook-delete-policy) - and M(gitops.core.drift_check) leaves them out of the comparison.
          - V(refuse) fails naming the chart, object and template.
          - V(waves) (deprecated, to be removed in 2.0.0) applies C(pre-install)/C(pre-upgrade) hooks in wave -1 and
            C(post-install)/C(post-upgrade) hooks in wave 1 as ordinary objects of the set.
          - Hooks that only run on delete or rollback are left out and listed in RV(helm_hooks_left_out).
        type: str
        choices: [helm, refuse, waves]
        default: helm
      lookup:
        description:
          - Helm's C(lookup) reads the live cluster, so an object it shapes does not follow from the commit.
          - V(refuse) (the default) fails only when rendering reaches a C(lookup) call with the values given, naming
            the template and line - a private copy of the chart is rendered in which each call fails when executed.
            A call in a branch the values leave disabled, or in C(NOTES.txt) (never an object), is not refused.
          - V(empty) renders C(lookup) as C(helm template) does (and Argo CD) - an empty result, as if the cluster
            held nothing - so the objects it shapes are those of an empty cluster, on every sync.
        type: str
        default: refuse
        choices: [refuse, empty]
      random:
        description:
          - Random or time-based template functions (C(randAlphaNum), C(genCA), C(genSelfSignedCert), C(uuidv4),
            C(now)...) make every render differ - under GitOps a change on every sync (a new password or
            certificate each time) and drift for ever.
          - V(refuse) (the default) renders a chart whose templates use them twice and fails naming each object and
            field that differs (never a value), with the fix - set the value in the values file, or an ignore rule.
          - V(accept) renders once and takes the result as it is.
        type: str
        default: refuse
        choices: [refuse, accept]
      dependencies:
        description:
          - V(vendored) (the default) renders a chart of the checkout only with the dependencies committed in its
            C(charts/) folder, and refuses one that is not there.
          - V(fetch) fetches each dependency that C(charts/) lacks at the version the chart's C(Chart.lock) pins, from
            its C(https://) repository or C(oci://) registry (as C(helm dependency build) does), into a private copy of
            the chart - never into the checkout. C(Chart.lock) pins versions, not content - the digests fetched are in
            RV(charts) (C(dependency_of)); a chart without C(Chart.lock), or a dependency it does not list, is refused.
        type: str
        default: vendored
        choices: [vendored, fetch]
      dependency_credentials:
        description:
          - For O(helm.dependencies=fetch) - the name of the O(credentials) entry to use for each dependency
            repository URL, as C(Chart.lock) writes it (a mapping of URL to name).
        type: dict
        default: {}
      binary:
        description: The helm executable. Defaults to C(helm) on the PATH.
        type: path
      cache_dir:
        description:
          - The cache of fetched charts, content-addressed - archives, OCI manifests and layers stored by their
            sha256, read back only while their content has that digest. It holds no credential.
          - Defaults to C(~/.cache/gitops.core/charts).
        type: path
      charts:
        description:
          - Settings for single charts, over the ones above - a chart of the checkout (O(helm.charts[].path)), or a
            chart to fetch and render (O(helm.charts[].repository)). An entry whose O(helm.charts[].path) is not a
            chart rendered by this run is refused (a typo would otherwise render with the shared settings).
          - A fetched chart is rendered besides what O(path) loads; its values files are files of the checkout,
            and a file named as a values file is never loaded as a manifest. Its objects' source file is
            C(<repository>/<chart>@<version>/<template>). RV(charts) says what was fetched.
          - A fetched chart is held to its O(helm.charts[].digest) - the sha256 of the chart archive (a
            repository) or of the OCI manifest (a registry; what C(helm push) prints). Pinned and already in
            O(helm.cache_dir), it renders with no network request, so a registry outage stops neither a sync nor a
            drift check (C(from_cache) in RV(charts)). Fetched, a digest other than the pin (a moved tag, a re-published
            version) is refused naming both. Without a digest the chart is refused, naming the digest served now,
            unless O(helm.charts[].unpinned=accept).
          - Refused, naming the chart - an archive with an absolute path, C(..), a link or a special file, a member
            outside the chart's folder, a file over O(max_file_bytes) or 100 MiB in all; a Chart.yaml naming another
            chart or version than asked; an index entry on another host than the repository's (unless
            O(helm.charts[].allowed_hosts)); plain HTTP (unless O(helm.charts[].plain_http)); a URL carrying
            credentials.
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description:
              - The chart folder, from the repository root, as found under O(path).
              - One of O(helm.charts[].path) and O(helm.charts[].repository) is required.
            type: str
          repository:
            description:
              - Where to fetch the chart - an C(https://) chart repository (its C(index.yaml)) or an C(oci://)
                registry and path (V(oci://ghcr.io/org/charts), the chart name is added).
            type: str
          chart:
            description: The chart's name (required with O(helm.charts[].repository)).
            type: str
          version:
            description: The chart's exact version (required with O(helm.charts[].repository)); a tag of the registry.
            type: str
          digest:
            description:
              - V(sha256:<64 hex digits>) - of the archive (a repository), of the OCI manifest (a registry).
            type: str
          unpinned:
            description:
              - V(refuse) (the default) refuses a chart without O(helm.charts[].digest), naming the digest served now.
              - V(accept) fetches the version as the repository serves it at each run (no cache hit, a request each
                time) and returns the digest it resolved (RV(charts)); a moved tag then shows as a changed
                digest and a drift of the objects it changed.
            type: str
            choices: [refuse, accept]
          verify:
            description:
              - V(provenance) checks the chart's Helm provenance file (C(helm package --sign); the C(.prov) beside the
                archive in a repository, the provenance layer C(helm push) pushes beside it in a registry) - a good
                OpenPGP signature by a key of O(trusted_keys) entry O(helm.charts[].trust), over the archive's
                sha256. Anything else is refused, naming the chart. Checked at every run, from the cache too.
              - V(cosign) (an C(oci://) chart) checks the chart's key-based cosign signature (C(cosign sign --key)),
                offline - a signature by a key of the O(trusted_keys) entry's C(cosign_keys) over the chart's
                manifest digest, as a Sigstore bundle (cosign 3; found through the registry's referrers API or
                its C(sha256-<hex>) tag) or a simple-signing payload (cosign 2; the C(sha256-<hex>.sig) tag). No
                transparency log or keyless identity is consulted. The signatures are kept in O(helm.cache_dir)
                and checked again at every run, without a request when the chart is cached.
            type: str
            choices: [none, provenance, cosign]
          trust:
            description:
              - The name of the key set of O(trusted_keys) that signs the chart - its C(gpg_keys) for
                V(provenance), its C(cosign_keys) for V(cosign).
            type: str
          credentials:
            description:
              - The name of the entry of O(credentials) that the repository or registry needs - C(username) and
                C(password) (basic auth, or a registry's token service), or C(token) (a bearer token); C(ca_file), a
                PEM bundle trusted instead of the system's.
              - Sent to the repository's own scheme, host and port only; a redirect to another host is followed
                without them, and an https redirect to plain HTTP is refused.
            type: str
          plain_http:
            description: Allow plain HTTP (an C(http://) repository, or a registry without TLS).
            type: bool
          allowed_hosts:
            description:
              - Hosts other than the repository's that its C(index.yaml) may point archives to (a CDN); the
                credentials are never sent there.
            type: list
            elements: str
          release_name:
            description: Release name for this chart.
            type: str
          release_namespace:
            description: Release namespace for this chart.
            type: str
          values_files:
            description: Values files for this chart (replacing O(helm.values_files)).
            type: list
            elements: str
          release_values:
            description: Inline values for this chart (replacing O(helm.release_values)).
            type: dict
          include_crds:
            description: Whether to render this chart's C(crds/).
            type: bool
          hooks:
            description: What to do with this chart's hooks (see O(helm.hooks)).
            type: str
            choices: [helm, refuse, waves]
          lookup:
            description: This chart's C(lookup) calls (see O(helm.lookup)).
            type: str
            choices: [refuse, empty]
          random:
            description: This chart's random or time-based values (see O(helm.random)).
            type: str
            choices: [refuse, accept]
          dependencies:
            description: This chart's dependencies (see O(helm.dependencies)).
            type: str
            choices: [vendored, fetch]
  dest:
    description:
      - The checkout cache. It is a cache, not a workspace; local edits are discarded.
      - Defaults to C(~/.cache/gitops.core/repos/<hash of the URL without credentials>).
      - Concurrent runs on one cache wait for each other (lock file C(<dest>.lock)). A run that was
        interrupted leaves a cache that the next run checks and, if broken, rebuilds.
      - An existing, non-empty folder that is not a gitops.core cache is refused.
    type: path
  depth:
    description: Fetch only this many commits of history (a shallow fetch).
    type: int
  key_file:
    description: SSH private key for ssh remotes.
    type: path
  known_hosts:
    description:
      - known_hosts content or file for ssh remotes; host keys must match it.
      - Without it, the user's known_hosts is used, unless O(accept_hostkey=true).
    type: str
  accept_hostkey:
    description:
      - Trust an ssh server's host key on first use; it is remembered in a C(known_hosts) file beside
        the cache and must match on later runs.
    type: bool
    default: false
  username:
    description: User name for https remotes.
    type: str
  password:
    description:
      - Password or token for https remotes. Handed to git through a credential helper reading it from
        the environment of the git process; never written to disk, a URL or any output.
    type: str
  verify:
    description:
      - Signature policy.
      - V(none) checks no signature.
      - V(head) requires a good signature on the resolved commit by a key in O(gpg_keys) or
        O(allowed_signers).
      - V(tag) requires O(version) to name an annotated tag with such a signature.
      - V(all) requires such a signature on every commit from O(verify_since) up to the resolved commit.
    type: str
    choices: [none, head, tag, all]
    default: none
  verify_since:
    description:
      - With O(verify=all), the trusted commit after which every commit must be signed.
      - Defaults to the last commit this cache verified for the same ref; when there is none, the
        whole history must be signed.
    type: str
  gpg_keys:
    description:
      - ASCII-armored OpenPGP public keys (text or file paths) whose signatures are trusted.
      - They are imported into a keyring made for this run only, never the user's.
    type: list
    elements: str
    default: []
  allowed_signers:
    description:
      - An OpenSSH C(allowed_signers) file (text or path) listing the SSH keys whose signatures are
        trusted (git C(gpg.format=ssh)).
    type: str
  sets_file:
    description:
      - A sets declaration in the repository, relative to its root (for example V(clusters/prod/sets.yaml); schema
        in docs/sets.md) - the cluster's sets, with their paths, rendering, dependencies, prune, policy and identity.
      - O(repo) is fetched and verified as without it; the declaration is then read at that commit (a missing file
        is refused, naming it) and checked before any set is loaded - an unknown field, a wrong type, a duplicate
        set, an unknown or cyclic dependency (the cycle named in order), a path outside the checkout, a key set or
        credentials the play does not give are refused naming the file, the line and the field.
      - Each set is then loaded alone, from its own paths and with its own rendering; O(path), O(render),
        O(template_vars), O(recursive), O(include) and O(exclude) are not used, and of O(helm) only
        O(helm.kube_version), O(helm.api_versions) and O(helm.binary), for the charts of sets that do not give them.
      - A set without C(repo) is loaded from the checkout of O(repo), with O(decryption). A set with C(repo) is
        fetched from that repository into its own cache (the default one for its URL) and verified by its own
        C(repo.verify) rule with the key set of O(trusted_keys) that C(repo.trust) names, and the credentials of
        O(credentials) that C(repo.credentials) names; O(decryption) is not given to it. Each repository is fetched
        once per run, however many sets use it. A set whose repository fails its rule fails the module, naming the
        set and the repository.
      - The result is RV(sets) and RV(declaration) (RV(objects) is then empty), for the C(sets) and C(declaration)
        options of M(gitops.core.k8s_reconcile) and M(gitops.core.drift_check). An object declared by two sets is
        refused, naming both.
    type: str
  trusted_keys:
    description:
      - Named key sets that a declared set from another repository names in C(repo.trust) - keys are named in Git,
        never written there. Each entry is C({gpg_keys, allowed_signers}), as O(gpg_keys) and O(allowed_signers).
      - A fetched chart names one in O(helm.charts[].trust) - C(gpg_keys) check its provenance, C(cosign_keys)
        (PEM public keys, the C(cosign.pub) of C(cosign generate-key-pair), as text or a file path; ECDSA or RSA)
        its cosign signature.
    type: dict
    default: {}
  credentials:
    description:
      - Named credentials - never written in Git - that a declared set from another repository names in
        C(repo.credentials), and a fetched chart in O(helm.charts[].credentials). Each entry is
        C({username, password, key_file, known_hosts}) for Git, as the options of those names;
        C({username, password, token, ca_file}) for a chart repository or registry (an AWX credential type for
        them is in docs/helm.md).
      - Each C(password) and C(token) is hidden from every output and message (only those - a user name or a key
        path may be shown).
    type: dict
    default: {}
  decryption:
    description:
      - Decrypt SOPS-encrypted content of the verified commit with these keys. Off when not given, and
        an encrypted file is then refused, naming it, never applied as ciphertext.
      - Ansible Vault content (files encrypted whole, C(!vault) values) in manifests and Helm values files
        is decrypted with the play's own vault secrets, which the action plugin passes in; no password
        is written into the task.
      - What is decrypted with SOPS - manifests (plain YAML/JSON and Jinja templates' output) whose documents carry
        SOPS metadata (the whole document, or the values an C(encrypted_regex) chose, as in a Secret's
        C(data)); the files a kustomization reads (secretGenerator and configMapGenerator C(files) and
        C(envs), patches, resources; dotenv, YAML, JSON, INI or binary), decrypted into a private copy of
        the checkout before kustomize runs; Helm values files (the helm-secrets convention).
      - Decryption happens only after the commit's signatures are verified (O(verify)). Every file's SOPS
        MAC is checked; a tampered file, or one no given key can open, is refused naming the file (and the
        keys it is encrypted for), and nothing is loaded.
      - Plain text stays in memory, or in a private folder (mode 0700) removed at the end of the run,
        on failure and on SIGTERM too; never in the Git cache. Decrypted values appear only in RV(objects);
        the fields of non-Secret objects that hold one are named in the annotation
        C(gitops.core/decrypted-fields) (names, never values), and every module hides them as it hides
        Secret data.
      - Needs the C(sops) binary (3.9 or later; tested with 3.13) on PATH, only when a file is encrypted.
        When O(decryption) names any key (O(decryption.age_keys), O(decryption.age_key_file),
        O(decryption.pgp_keys)), sops uses those keys only - never the machine's own (E(SOPS_AGE_KEY_FILE),
        E(SOPS_AGE_KEY), C(~/.config/sops/age/keys.txt), C(~/.ssh), C(~/.gnupg)); cloud KMS credentials still
        reach it from environment variables, not from files in the home. With no key named, sops finds keys
        as it always does.
    type: dict
    suboptions:
      age_keys:
        description:
          - age private keys (C(AGE-SECRET-KEY-...) text as C(age-keygen) writes it, or paths of such files).
          - Written to a key file in the run's private folder and given to sops as E(SOPS_AGE_KEY_FILE);
            E(SOPS_AGE_KEY) from the environment is then not used.
        type: list
        elements: str
      age_key_file:
        description: A file of age private keys, used with O(decryption.age_keys).
        type: path
      pgp_keys:
        description:
          - ASCII-armored OpenPGP private keys (text or paths), imported into a private GnuPG home made for
            this run (mode 0700, its agent stopped and the home removed at the end). Keys with a passphrase
            cannot be used.
        type: list
        elements: str
      vault_secrets:
        description:
          - Set by the module's action plugin, not by the task - the vault secrets of the play
            (C(--vault-id), C(--vault-password-file), an AWX Vault credential), used to decrypt files
            encrypted whole with Ansible Vault (C($ANSIBLE_VAULT;1.1) and C(1.2) with a vault id) and
            C(!vault) values in manifests and Helm values files. Never shown (no_log).
        type: list
        elements: dict
        suboptions:
          id:
            description: The vault id.
            type: str
          secret:
            description: The vault password.
            type: str
  max_file_bytes:
    description: Refuse a file larger than this. Kustomize and Helm output may be up to 16 times this.
    type: int
    default: 4194304
  max_objects:
    description: Refuse a desired state with more objects than this.
    type: int
    default: 20000
  stall_timeout:
    description:
      - Seconds a fetch may make no progress (HTTP(S) under 1 kB/s; SSH connect, or a server that stops
        answering) before git gives up and the run fails naming the repository. The cache stays usable
        for the next run.
    type: int
    default: 60
seealso:
  - module: gitops.core.k8s_reconcile
  - module: gitops.core.drift_check
notes:
  - RV(objects) carries the desired objects as Git holds them, Secret values included, because
    M(gitops.core.k8s_reconcile) needs them. Set the task keyword C(no_log) to true (the collection's roles do)
    so that no verbosity shows them in job output; the token in a O(repo) URL is masked either way.
  - YAML is loaded safely; duplicate keys, recursive aliases and alias expansion beyond one million
    nodes (billion laughs) are refused. Empty documents are skipped; C(*List) kinds are flattened.
  - Each object needs C(apiVersion), C(kind) and C(metadata.name); an object (group, kind, namespace,
    name) declared twice is refused, naming both files.
  - Git submodules are not fetched.
"""

EXAMPLES = r"""
- name: Fetch the production desired state from a branch
  gitops.core.git_desired_state:
    repo: https://git.example.com/platform/deploy.git
    version: main
    path: [clusters/prod]
    username: deploy-bot
    password: "{{ git_token }}"
  register: desired

- name: Require a signed tag, trusting an SSH and a GPG key
  gitops.core.git_desired_state:
    repo: git@git.example.com:platform/deploy.git
    key_file: ~/.ssh/deploy_ed25519
    known_hosts: "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."
    version: v1.4.0
    verify: tag
    allowed_signers: "release@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."
    gpg_keys:
      - "{{ lookup('file', 'keys/release.asc') }}"

- name: Every commit since the last verified one must be signed
  gitops.core.git_desired_state:
    repo: https://git.example.com/platform/deploy.git
    verify: all
    gpg_keys: [/etc/gitops/trusted.asc]

- name: Render Jinja2 templates with variables
  gitops.core.git_desired_state:
    repo: /srv/git/deploy.git
    path: [templates]
    template_vars:
      replicas: 3
      image_tag: "{{ release }}"

- name: Render a chart of the repository with per-cluster values, as the cluster would
  gitops.core.git_desired_state:
    repo: https://git.example.com/platform/deploy.git
    version: main
    path: [charts/web]
    render: helm
    helm:
      release_name: web
      release_namespace: web
      values_files: [clusters/prod/web-values.yaml]
      release_values:
        image: {tag: "{{ release }}"}
      kube_version: "1.33.2"
      api_versions: [monitoring.coreos.com/v1/ServiceMonitor]
  register: desired

- name: Several charts and plain manifests from one commit, one setting per chart
  gitops.core.git_desired_state:
    repo: https://git.example.com/platform/deploy.git
    path: [clusters/prod]          # plain files, kustomizations and charts below it
    helm:
      release_namespace: platform
      charts:
        - path: clusters/prod/ingress
          values_files: [clusters/prod/ingress-values.yaml]
        - path: clusters/prod/cache
          release_name: redis
          hooks: waves

- name: Converge the cluster to it
  gitops.core.k8s_reconcile:
    set_name: prod-apps
    objects: "{{ desired.objects }}"
    revision: "{{ desired.commit }}"

- name: Every set the platform repository declares for prod, one from a team's repository (docs/sets.md)
  gitops.core.git_desired_state:
    repo: https://git.example.com/platform/deploy.git
    version: main
    verify: head
    gpg_keys: ["{{ lookup('file', 'keys/platform.asc') }}"]
    sets_file: clusters/prod/sets.yaml
    trusted_keys:                    # named by a set's repo.trust
      team-a: {allowed_signers: "dev@team-a.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."}
    credentials:                     # named by a set's repo.credentials
      team-a-ro: {username: deploy-bot, password: "{{ team_a_token }}"}
  register: desired
  no_log: true

- name: Converge them, in dependency order
  gitops.core.k8s_reconcile:
    sets: "{{ desired.sets }}"
    declaration: "{{ desired.declaration }}"

- name: A chart from an OCI registry, pinned by digest and verified, with values from Git
  gitops.core.git_desired_state:
    repo: https://git.example.com/platform/deploy.git
    path: [apps/podinfo]                        # holds values.yaml (a values file: not loaded as a manifest)
    helm:
      release_namespace: podinfo
      charts:
        - repository: oci://registry.example.com/charts
          chart: podinfo
          version: 6.14.1
          digest: sha256:1ae2842ac0cbe595d9a373285356b662d19b5113f1494e29e4fc0cc691eaaf15
          verify: provenance
          trust: chart-signers
          credentials: registry
          values_files: [apps/podinfo/values.yaml]
    trusted_keys:
      chart-signers: {gpg_keys: ["{{ lookup('file', 'keys/charts.asc') }}"]}
    credentials:
      registry: {username: robot, password: "{{ registry_token }}", ca_file: /etc/pki/registry-ca.pem}
  register: desired
"""

RETURN = r"""
sets:
  description:
    - With O(sets_file) - each declared set, in the declaration's order, given as it is to the C(sets) option of
      M(gitops.core.k8s_reconcile) and M(gitops.core.drift_check). Every key is present; a field the declaration
      leaves out has its default (C(namespace) V(default), C(prune) true, C(max_deletions) null, C(wait) true,
      C(wait_timeout) 300, C(ignore) [], C(recreate) false, C(adopt) false, C(policy), C(service_account),
      C(impersonate_user), C(impersonate_groups) null, C(inventory_namespace) null - the play's).
    - C(objects), C(sources), C(digest) and C(object_count) are as RV(objects), RV(sources), RV(digest) and
      RV(object_count) for the set alone; C(revision) is the commit of the set's repository; C(source) is
      C({repo, path, commit}) (the URL without credentials); C(signature) is the signature that satisfied the
      rule of the set's repository (the root repository's for a set without C(repo)).
  returned: when O(sets_file) is given
  type: list
  elements: dict
  sample:
    - name: crds
      depends_on: []
      objects: [{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: gadgets.example.com}}]
      sources: [{ref: "apiextensions.k8s.io/CustomResourceDefinition gadgets.example.com", file: crds/gadgets.yaml, document: 1}]
      revision: 3f1c2e9a7b1d4c0e8f6a5b4c3d2e1f0a9b8c7d6e
      source: {repo: "https://git.example.com/platform/deploy.git", path: [crds], commit: 3f1c2e9a7b1d4c0e8f6a5b4c3d2e1f0a9b8c7d6e}
      digest: 5d41402abc4b2a76b9719d911017c592ae9d1a7e2cf62d2b1a9c7e1a3f8b0c1d
      object_count: 1
      namespace: default
      prune: true
      max_deletions: null
      wait: true
      wait_timeout: 300
      ignore: []
      recreate: false
      adopt: false
      policy: null
      service_account: null
      impersonate_user: null
      impersonate_groups: null
      inventory_namespace: null
      signature: {verified: false, format: null, signer: null, key: null}
declaration:
  description:
    - With O(sets_file) - the declaration's C(name) (its inventory is ConfigMap C(gitops-sets-<name>)), C(file),
      C(prune), C(max_deletions) and the names of its C(sets) in order; given as it is to the C(declaration) option
      of M(gitops.core.k8s_reconcile).
  returned: when O(sets_file) is given
  type: dict
  sample: {name: prod, file: clusters/prod/sets.yaml, prune: false, max_deletions: 50, sets: [crds, apps]}
changed:
  description: Whether the commit moved since the cache's last checkout (always true for a new cache).
  returned: always
  type: bool
rc:
  description: The exit code of the git command that failed (C(git ls-remote), C(git fetch), ...).
  returned: when a git command failed
  type: int
  sample: 128
commit:
  description: The resolved commit SHA.
  returned: success
  type: str
  sample: 3f1c2e9a7b1d4c0e8f6a5b4c3d2e1f0a9b8c7d6e
short_commit:
  description: The first 12 characters of RV(commit).
  returned: success
  type: str
  sample: 3f1c2e9a7b1d
previous_commit:
  description: The commit the cache held before this run, or null for a new cache.
  returned: success
  type: str
  sample: 9b8c7d6e3f1c2e9a7b1d4c0e8f6a5b4c3d2e1f0a
ref:
  description: The full ref that O(version) resolved to, or the commit SHA when a commit was asked for.
  returned: success
  type: str
  sample: refs/heads/main
commit_date:
  description: Committer date, ISO 8601.
  returned: success
  type: str
  sample: "2026-11-26T08:41:02+00:00"
author:
  description: Author name and e-mail.
  returned: success
  type: str
  sample: Alice <alice@example.com>
subject:
  description: The first line of the commit message.
  returned: success
  type: str
  sample: "prod: raise web replicas to 5"
signature:
  description: The signature that satisfied O(verify) (the tag's for V(tag), the resolved commit's otherwise).
  returned: success
  type: dict
  contains:
    verified:
      description: Whether a signature was verified.
      type: bool
    format:
      description: V(gpg), V(ssh), or null when nothing was verified.
      type: str
    signer:
      description: The GPG user ID or the SSH principal of the signer.
      type: str
    key:
      description: The GPG primary key fingerprint or the SSH key fingerprint.
      type: str
  sample: {verified: true, format: ssh, signer: release@example.com, key: "SHA256:TriqMStykUnPLXDuyMUsbMPCvUT9cntihwX7C7NniVc"}
objects:
  description:
    - The Kubernetes objects, in file order (files sorted by path, then document order).
    - Empty with O(sets_file) - each set's are in RV(sets); RV(object_count) is then the total of all sets, RV(files)
      the declaration and the files of the sets of O(repo), RV(digest) covers the declaration and every set, and
      RV(source) names the declaration.
  returned: success
  type: list
  elements: dict
object_count:
  description: Number of objects.
  returned: success
  type: int
  sample: 42
sources:
  description:
    - Where each object of RV(objects) came from (same order). For a Helm chart, the template file that rendered
      it (for example V(charts/web/templates/deployment.yaml)) and the document's index in that template's output.
  returned: success
  type: list
  elements: dict
  sample: [{ref: "apps/Deployment web/frontend", file: apps/web.yaml, document: 1}]
files:
  description: The files, kustomization folders and chart folders loaded, relative to the repository root.
  returned: success
  type: list
  elements: str
  sample: [apps/web.yaml, base]
charts:
  description:
    - The charts fetched from repositories and registries (O(helm.charts[].repository)), in order - C(repository),
      C(chart), C(version), C(release) (namespace/name), C(digest) (the archive's sha256 for a repository, the OCI
      manifest's for a registry), C(archive_digest), C(pinned), C(from_cache) (rendered from O(helm.cache_dir)
      without a network request), C(requests) (made for it), C(provenance) (the signing key's fingerprint, when
      verified), C(cosign) (when verified - C(key), the O(trusted_keys) entry that signed, C(fingerprint), the
      sha256 of that public key, and C(format), V(bundle) or V(simplesigning)). RV(source) lists each as C(<repository>/<chart>@<version> <digest>).
  returned: success
  type: list
  elements: dict
  sample: [{repository: "oci://registry.example.com/charts", chart: podinfo, version: 6.14.1, release: apps/podinfo,
            digest: "sha256:1ae2842ac0cbe595d9a373285356b662d19b5113f1494e29e4fc0cc691eaaf15",
            archive_digest: "sha256:87ba1b63dbed48a95ea8c14d183ca1b15f5783a1824c6e6b26cee7f3aeb8dcf5", pinned: true,
            from_cache: true, requests: 0, provenance: E3284A7434DD103AEEEDC387EBE6F0558253686E}]
helm_hooks_left_out:
  description:
    - The Helm hooks left out because they only run on delete or rollback; with O(sets_file), each names its C(set).
  returned: success
  type: list
  elements: dict
  sample: [{ref: "batch/Job backup/web", file: charts/web/templates/backup-job.yaml, hook: pre-delete}]
digest:
  description:
    - sha256 of the canonical JSON of RV(objects) with Secret values and decrypted fields hidden (nothing in
      it derives from a secret); the same commit and options give the same digest.
  returned: success
  type: str
  sample: 5d41402abc4b2a76b9719d911017c592ae9d1a7e2cf62d2b1a9c7e1a3f8b0c1d
cache_dir:
  description: The cache folder (O(dest) or the default).
  returned: success
  type: str
  sample: /home/awx/.cache/gitops.core/repos/0f1e2d3c4b5a69788796a5b4
source:
  description:
    - The repository URL without credentials, the paths and the commit; with fetched charts, C(charts) - each as
      C(<repository>/<chart>@<version> <digest>).
  returned: success
  type: dict
  sample: {repo: "https://git.example.com/platform/deploy.git", path: [clusters/prod], commit: 3f1c2e9a7b1d4c0e8f6a5b4c3d2e1f0a9b8c7d6e}
"""

from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.gitops.core.plugins.module_utils.source.desired_state import fetch_desired_state
from ansible_collections.gitops.core.plugins.module_utils.source.helm import option_spec as helm_option_spec
from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError
from ansible_collections.gitops.core.plugins.module_utils.source.gitsource import RepoUrl
from ansible_collections.gitops.core.plugins.module_utils.common.runner import ModuleRunner
from ansible_collections.gitops.core.plugins.module_utils.common.yamlsafe import HAS_YAML, YAML_IMPORT_ERROR


def argument_spec():
    return dict(
        repo=dict(type="str", required=True),
        version=dict(type="str"),
        path=dict(type="list", elements="str", default=["."]),
        recursive=dict(type="bool", default=True),
        include=dict(type="list", elements="str"),
        exclude=dict(type="list", elements="str", default=[]),
        render=dict(type="str", default="auto", choices=["auto", "plain", "jinja", "kustomize", "helm"]),
        template_vars=dict(type="dict", default={}),
        helm=dict(type="dict", default={}, options=helm_option_spec()),
        dest=dict(type="path"),
        depth=dict(type="int"),
        key_file=dict(type="path", no_log=False),
        known_hosts=dict(type="str"),
        accept_hostkey=dict(type="bool", default=False),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        verify=dict(type="str", default="none", choices=["none", "head", "tag", "all"]),
        verify_since=dict(type="str"),
        gpg_keys=dict(type="list", elements="str", default=[], no_log=False),
        allowed_signers=dict(type="str"),
        max_file_bytes=dict(type="int", default=4194304),
        max_objects=dict(type="int", default=20000),
        stall_timeout=dict(type="int", default=60),
        sets_file=dict(type="str"),
        trusted_keys=dict(type="dict", default={}, no_log=False),
        # only the passwords are secret: hide_credential_passwords (no_log on the whole dict would mask every
        # user name and path of it wherever it occurs in the result, objects included)
        credentials=dict(type="dict", default={}, no_log=False),
        decryption=dict(type="dict", options=dict(
            age_keys=dict(type="list", elements="str", no_log=True),
            age_key_file=dict(type="path", no_log=False),
            pgp_keys=dict(type="list", elements="str", no_log=True),
            vault_secrets=dict(type="list", elements="dict", no_log=True, options=dict(
                id=dict(type="str"), secret=dict(type="str", no_log=True))),
        )),
    )


def hide_url_password(module):
    """A password inside `repo` (https://user:token@host/...) is masked wherever Ansible shows
    values, and the invocation shown at -vvv gets the URL without it (RepoUrl's display form)."""
    try:
        url = RepoUrl(module.params["repo"] or "")
    except GitOpsError:
        return  # fetch_desired_state names the problem
    if url.password:
        raw = urlsplit(module.params["repo"]).password or ""
        module.no_log_values.update({url.password, raw} - {""})
        module.params["repo"] = url.display


def hide_credential_passwords(module):
    """The passwords of `credentials` are masked wherever Ansible shows values (the invocation too);
    the rest of each entry (user name, key path, known hosts) is not secret."""
    entries = module.params.get("credentials")
    for entry in entries.values() if isinstance(entries, dict) else ():
        for key in ("password", "token"):
            secret = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(secret, str) and secret:
                module.no_log_values.add(secret)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = dict(module.params)
    hide_url_password(module)  # before anything can fail: fail_json echoes the invocation
    hide_credential_passwords(module)
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    if module.params["depth"] is not None and module.params["depth"] < 1:
        module.fail_json(msg="depth must be at least 1")
    helm = params.get("helm") or {}
    if "waves" in [helm.get("hooks")] + [c.get("hooks") for c in helm.get("charts") or []]:
        module.deprecate("helm.hooks=waves applies hooks as ordinary objects; helm.hooks=helm (the default) runs "
                         "them as helm upgrade does", version="2.0.0", collection_name="gitops.core")
    try:
        result = fetch_desired_state(params, ModuleRunner(module))
    except GitOpsError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
