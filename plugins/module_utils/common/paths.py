# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one path grammar: how a field of an object is named in diffs, managedFields, ignore rules,
the names of decrypted fields and the agent's events, and the one walk over an object's leaves.

A path is a tuple of steps: a map key (str), a list index (int), a list item chosen by its key
fields (Key) or a member of a set-like list (Value).  Written:

    spec.template.spec.containers[name=app].image     a keyed item
    spec.template.spec.containers[0].env[1].value      indexes
    metadata.annotations[example.com/owner]           a key holding '.', '[' or ']'
    data["8080"]   finalizers["kubernetes"]           a key that would read as an index or selector; a set member

Writing is concatenative: the text of a path starts with the text of each of its prefixes,
followed by '.' or '[', so prefixes can be compared as text.  `parse` reads what `dotted` writes,
and also `*` (any one step, in patterns) and JSON pointers (`/spec/replicas`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from collections import namedtuple

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError

ANY = "*"  # in a pattern: any one step
_BRACKETED = set(".[]")


class Key(namedtuple("Key", "fields")):
    """A list item chosen by its key fields, e.g. containers[name=app]; `fields` is sorted (k, v) pairs."""

    __slots__ = ()

    @classmethod
    def of(cls, mapping):
        return cls(tuple(sorted(mapping.items())))

    def __str__(self):
        return "[%s]" % ",".join("%s=%s" % (k, v) for k, v in self.fields)


class Value(namedtuple("Value", "value")):
    """A member of a set-like list (e.g. finalizers)."""

    __slots__ = ()

    def __str__(self):
        return "[%s]" % json.dumps(self.value)


def _key(step, first):
    if not step or step.isdigit() or "=" in step or step[0] == '"' or "]" in step:
        return "[%s]" % json.dumps(step)
    if _BRACKETED & set(step):
        return "[%s]" % step
    return step if first else "." + step


def dotted(path):
    """The text of a path: spec.template.spec.containers[name=app].image"""
    out = ""
    for step in path:
        if isinstance(step, (Key, Value)):
            out += str(step)
        elif isinstance(step, int):
            out += "[%d]" % step
        else:
            out += _key(str(step), not out)
    return out


def _bracket(inner, text, where):
    if inner == ANY:
        return ANY
    if inner.isdigit():
        return int(inner)
    if inner.startswith('"'):
        try:
            return str(json.loads(inner))
        except ValueError:
            raise GitOpsError("%s: bad quoted key %s in path %r" % (where, inner, text))
    if "=" in inner:
        return Key(tuple(sorted((k.strip(), v.strip()) for k, _eq, v in (p.partition("=") for p in inner.split(",")))))
    return inner.strip("'")


def parse(text, where="path"):
    """The steps of a written path (or JSON pointer); `*` stands for any one step (ANY).  A keyed
    item comes back as a Key whose values are strings."""
    if not isinstance(text, str) or not text:
        raise GitOpsError("%s: a path must be a non-empty string" % where)
    if text.startswith("/"):
        parts = (p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/"))
        return tuple(int(p) if p.isdigit() else p for p in parts)
    steps, key, i = [], "", 0
    while i < len(text):
        c = text[i]
        if c in ".[":
            if key:
                steps.append(key)
            key = ""
            if c == "[":
                end = text.find("]", i + 1)
                if text.startswith('["', i):  # a quoted key may hold ']'
                    close = text.find('"]', i + 2)
                    while close > 0 and text[close - 1] == "\\":
                        close = text.find('"]', close + 1)
                    end = close + 1 if close > 0 else -1
                if end < 0:
                    raise GitOpsError("%s: unclosed '[' in path %r" % (where, text))
                steps.append(_bracket(text[i + 1:end], text, where))
                i = end
        else:
            key += c
        i += 1
    if key:
        steps.append(key)
    return tuple(steps)


def step_matches(pattern, step):
    """Whether one parsed pattern step selects one path step (a Key pattern by the fields it names)."""
    if pattern == ANY:
        return True
    if isinstance(pattern, Key):
        return isinstance(step, Key) and all(str(dict(step.fields).get(k)) == v for k, v in pattern.fields)
    if isinstance(pattern, int):
        return step == pattern
    if isinstance(step, Value):
        return str(step.value) == pattern
    return step == pattern


def matches(pattern, path):
    """A pattern matches a path at or below it (`metadata.labels` matches every label)."""
    return len(pattern) <= len(path) and all(step_matches(p, s) for p, s in zip(pattern, path))


def lookup(node, path, default=None):
    """The value at `path` (str and int steps) of a plain tree, or `default` when it has none (a
    string is a leaf: it is never indexed into)."""
    for step in path:
        if isinstance(node, dict) and not isinstance(step, int) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return default
    return node


def leaves(node, path=(), types=(str,)):
    """(path, value) of every leaf of a plain tree whose value is one of `types` (None: any value but
    null, whatever YAML made of it: dates, numbers, bytes), lists by index."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, path + (key,), types)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, path + (index,), types)
    elif node is not None if types is None else isinstance(node, types):
        yield path, node


def covers(names, name):
    """Whether the written path `name` is, holds or lies inside one of the written paths `names`."""
    if not name:
        return bool(names)  # the whole object
    for other in names:
        if name == other or other.startswith((name + ".", name + "[")) or name.startswith((other + ".", other + "[")):
            return True
    return False
