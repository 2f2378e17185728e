# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the fields of a configuration file read from YAML (a sets declaration): each check is
`check(value, path) -> value` and raises Invalid naming the field's path (a tuple of keys and
indexes, as in common/paths.py), which the caller turns into a message with the file and line.
Strict: a boolean is never a number, a string never a boolean, an unknown key is refused."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

from ansible_collections.gitops.core.plugins.module_utils.common.errors import GitOpsError


class Invalid(Exception):
    """A field that is wrong: its path and what is wrong with it."""

    def __init__(self, path, message):
        super(Invalid, self).__init__(message)
        self.path, self.message = tuple(path), message


def shown(value):
    """What a value is, for a message: the string itself, else its kind."""
    if isinstance(value, str):
        return "the string %r" % value
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "a mapping"}.get(
        type(value), type(value).__name__)


def text(value, path):
    if isinstance(value, str) and value:
        return value
    raise Invalid(path, "must be a non-empty string, got %s" % shown(value))


def flag(value, path):
    if isinstance(value, bool):
        return value
    raise Invalid(path, "must be true or false, got %s" % shown(value))


def count(minimum, nullable=False):
    """A whole number >= minimum (or null, when `nullable`)."""
    def check(value, path):
        if (value is None and nullable) or (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
            return value
        raise Invalid(path, "must be a whole number >= %d, got %s" % (minimum, shown(value)))
    return check


def choice(*choices):
    def check(value, path):
        if isinstance(value, str) and value in choices:
            return value
        raise Invalid(path, "must be one of %s, got %s" % (", ".join(choices), shown(value)))
    return check


def mapping(value, path):
    if isinstance(value, dict):
        return value
    raise Invalid(path, "must be a mapping, got %s" % shown(value))


def list_of(item):
    def check(value, path):
        if not isinstance(value, list):
            raise Invalid(path, "must be a list, got %s" % shown(value))
        return [item(v, tuple(path) + (i,)) for i, v in enumerate(value)]
    return check


texts = list_of(text)


def fields(spec, required=()):
    """A mapping with only the keys of `spec` ({key: check}), the `required` ones present; each value checked."""
    def check(value, path):
        mapping(value, path)
        for key in value:
            if key not in spec:
                near = difflib.get_close_matches(str(key), list(spec), 1)
                raise Invalid(tuple(path) + (str(key),), "unknown field%s (known: %s)" % (
                    "; did you mean %s?" % near[0] if near else "", ", ".join(spec)))
        for key in required:
            if key not in value:
                raise Invalid(tuple(path) + (key,), "is required")
        return dict((key, spec[key](v, tuple(path) + (key,))) for key, v in value.items())
    return check


def from_spec(spec):
    """The check of the fields of an Ansible argument spec (types str, path, bool, dict, list; choices,
    required, options, elements), without its defaults or conversions: what the module would accept for
    that option, given as YAML."""
    checks = {}
    for key, option in spec.items():
        kind = option.get("type", "str")
        if option.get("choices"):
            checks[key] = choice(*option["choices"])
        elif kind == "bool":
            checks[key] = flag
        elif kind == "dict":
            checks[key] = from_spec(option["options"]) if option.get("options") else mapping
        elif kind == "list":
            item = (from_spec(option["options"]) if option.get("options")
                    else mapping if option.get("elements") == "dict" else text)
            checks[key] = list_of(item)
        elif kind in ("str", "path"):
            checks[key] = text
        else:
            raise ValueError("from_spec: option %s: type %s is not supported" % (key, kind))
    return fields(checks, [key for key, option in spec.items() if option.get("required")])


def guarded(check):
    """`check`, with a GitOpsError it raises (a URL or ref name refused) made the field's Invalid."""
    def run(value, path):
        try:
            return check(value, path)
        except GitOpsError as exc:
            raise Invalid(path, exc.message)
    return run
