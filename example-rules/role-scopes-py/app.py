"""Narrows the access token's scopes to what the user's roles grant: the
Python twin of example-rules/role-scopes.

Configuration: each key is a role name and its value the space-separated
scopes that role may receive. The access token's scopes become the requested
scopes (in the order requested) that at least one of the user's roles grants;
a user with no granting role gets no scopes. When that is already the token's
scope list, the rule allows without an edit.
"""

import wit_world
from wit_world.imports import config, types

# The characters Rust's `str::split_whitespace` splits on. Python's own
# `str.split()` also splits on the ASCII separators U+001C to U+001F, which
# would make this rule disagree with its Rust twin on such input.
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def split_whitespace(text):
    """The non-empty runs of `text` between white space characters."""
    words, word = [], []
    for char in text:
        if char in WHITESPACE:
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(char)
    if word:
        words.append("".join(word))
    return words


def param(params, name):
    """The first value of `name` in a list of (key, value) parameters."""
    return next((value for key, value in params if key == name), None)


def requested_scopes(request):
    """The `scope` parameter (query first, then body) split on white space,
    in the order given and without repeats."""
    scope = param(request.query, "scope")
    if scope is None:
        scope = param(request.body, "scope")
    scopes = []
    for word in split_whitespace(scope or ""):
        if word not in scopes:
            scopes.append(word)
    return scopes


class WitWorld(wit_world.WitWorld):
    def evaluate(self, user: types.User, context: types.Context) -> types.Decision:
        grants = dict(config.entries())
        granted = set()
        for role in context.roles:
            granted.update(split_whitespace(grants.get(role, "")))
        scopes = [scope for scope in requested_scopes(context.request) if scope in granted]
        if scopes == context.access_token.scopes:
            return types.Decision_Allow()
        return types.Decision_Modify([types.Edit_ReplaceScopes(scopes)])
