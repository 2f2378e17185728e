# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML loading for untrusted manifests: safe types only, duplicate keys refused, alias
expansion bounded (billion laughs), recursive aliases refused, errors with file and line."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

# Encrypted content is recognised while loading so that it is never applied as ciphertext (see
# source/secrets/encrypted.py for whole documents and files).
NOT_DECRYPTED = ("give `decryption` (with the play's vault secrets) to decrypt it, or it is refused rather than "
                 "applied as ciphertext")


class VaultValue(object):
    """A `!vault` value as loaded, to be decrypted (vault.py) before anything else sees it."""

    def __init__(self, text, line):
        self.text, self.line = text, line

    def __repr__(self):
        return "VaultValue(line %d)" % self.line


def vault_constructor(loader, node):
    """The `!vault` tag: a value encrypted with Ansible Vault, refused unless the loader keeps it for
    decryption (yamlsafe.load_all(keep_vault=True))."""
    if getattr(loader, "keep_vault", False):
        return VaultValue(loader.construct_scalar(node), node.start_mark.line + 1)
    raise GitOpsError("a !vault value (Ansible Vault) at line %d; %s" % (node.start_mark.line + 1, NOT_DECRYPTED))


try:
    import yaml
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
    _BaseLoader = object
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available

# The most nodes one document may expand to through aliases; a plain document counts its own size.
MAX_EXPANDED_NODES = 1000000


class _Loader(_BaseLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # SafeLoader reports unhashable keys itself
                if key in seen:
                    raise GitOpsError("duplicate key %r at line %d (first at line %d)"
                                      % (key, key_node.start_mark.line + 1, seen[key] + 1))
                seen[key] = key_node.start_mark.line
        return super(_Loader, self).construct_mapping(node, deep=deep)


if HAS_YAML:
    _Loader.add_constructor("!vault", vault_constructor)


def _expanded_size(node, limit):
    """Nodes the document expands to once aliases are followed (shared nodes counted each time
    they are used), computed on the composed graph without expanding it."""
    sizes = {}
    in_progress = set()

    def size(n):
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise GitOpsError("recursive YAML alias at line %d" % (n.start_mark.line + 1))
        in_progress.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child)
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k) + size(v)
        in_progress.discard(key)
        if total > limit:
            raise GitOpsError("YAML aliases expand to more than %d nodes near line %d (an alias bomb?)"
                              % (limit, n.start_mark.line + 1))
        sizes[key] = total
        return total

    return size(node)


def _documents(text, name, max_nodes=MAX_EXPANDED_NODES, keep_vault=False):
    """(index, composed node, data) of each non-empty document of a YAML stream, under the rules of
    load_all."""
    loader = _Loader(text)
    loader.keep_vault = keep_vault
    docs = []
    index = 0
    # Only an anchor (&name) lets an alias share a node, so a stream without "&" cannot expand beyond
    # its own text (bounded by max_file_bytes): the expansion walk is needed only when one is present.
    aliases_possible = "&" in text
    try:
        while loader.check_node():
            index += 1
            node = loader.get_node()
            if node is None:
                continue
            if aliases_possible:
                _expanded_size(node, max_nodes)
            data = loader.construct_document(node)
            if data is not None:
                docs.append((index, node, data))
    except GitOpsError as exc:
        raise GitOpsError("%s, document %d: %s" % (name, index, exc.message))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = " line %d column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise GitOpsError("%s:%s YAML syntax error: %s" % (name, where, exc.problem or exc.context))
    except yaml.YAMLError as exc:
        raise GitOpsError("%s: YAML error: %s" % (name, exc))
    except RecursionError:
        raise GitOpsError("%s, document %d: YAML nested too deeply" % (name, index))
    finally:
        loader.dispose()
    return docs


def load_all(text, name, max_nodes=MAX_EXPANDED_NODES, keep_vault=False):
    """Return the documents of a YAML stream as (index, line, data); empty documents are skipped.
    Raises GitOpsError naming `name`, the document and the line.  A `!vault` value is refused, or
    with `keep_vault` loaded as an VaultValue for the caller to decrypt."""
    return [(index, node.start_mark.line + 1, data) for index, node, data in _documents(text, name, max_nodes, keep_vault)]


def node_lines(node):
    """{path: line} of a composed document, a path being a tuple of map keys and list indexes (as in
    common/paths.py): a map entry at its key's line, a list item at its own; () is the document.  Call
    it on a node that load rules accepted (no recursive alias)."""
    out = {(): node.start_mark.line + 1}
    todo = [((), node)]
    while todo:
        path, current = todo.pop()
        if isinstance(current, yaml.MappingNode):
            children = [(key.value if isinstance(key, yaml.ScalarNode) else None, key, value)
                        for key, value in current.value]
        elif isinstance(current, yaml.SequenceNode):
            children = [(index, item, item) for index, item in enumerate(current.value)]
        else:
            continue
        for step, where, child in children:
            if step is None:
                continue
            out.setdefault(path + (step,), where.start_mark.line + 1)
            todo.append((path + (step,), child))
    return out


def load_one(text, name, max_nodes=MAX_EXPANDED_NODES):
    """(data, lines) of a file that must hold one YAML document (a configuration file, not manifests):
    `lines` is node_lines' map, to name the line of a field.  A second document is refused; an empty
    file gives (None, {})."""
    docs = _documents(text, name, max_nodes)
    if len(docs) > 1:
        raise GitOpsError("%s line %d: a second YAML document; the file must hold one"
                          % (name, docs[1][1].start_mark.line + 1))
    if not docs:
        return None, {}
    return docs[0][2], node_lines(docs[0][1])
