# -*- coding: utf-8 -*-
# Copyright: gitops.core contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception type of gitops.core: its message names the file, document, field or object
a user has to fix, and never contains a credential.  Modules turn it into fail_json once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class GitOpsError(Exception):
    """An error a user can act on; str(error) is the whole message."""

    def __init__(self, message, **details):
        super(GitOpsError, self).__init__(message)
        self.message = message
        self.details = details
