"""Errors a user can meet and fix: the CLI prints their message, never a traceback."""


class UserError(Exception):
    """A mistake the user can fix; the message names the field or file and the fix."""
