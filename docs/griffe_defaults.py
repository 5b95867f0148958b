"""A griffe extension for the API reference: defaults shown by value.

A signature such as ``audit(..., max_listed: int = MAX_LISTED)`` keeps the constant's name in the
code (one place to change it) but should tell a reader the number.  Every parameter default that
is the name of a module-level UPPER_CASE constant holding a literal (a number, a string, a tuple
of them) is replaced by that literal in the rendered signature.  mkdocs.yml loads this file
(``extensions:`` of the mkdocstrings Python handler); it is not part of the package.
"""

from __future__ import annotations

import ast
import re

import griffe

_CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def _literal_value(func: griffe.Function, name: str) -> str | None:
    """The source text of the literal value of constant ``name`` seen from ``func``, or None."""
    scope = func.parent
    while scope is not None and not scope.is_module:
        scope = scope.parent
    member = scope.members.get(name) if scope is not None else None
    if member is None:
        return None
    try:
        target = member.final_target if member.is_alias else member
    except griffe.AliasResolutionError:
        return None
    value = getattr(target, "value", None)
    if value is None:
        return None
    text = str(value)
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return text


def _functions(obj: griffe.Object):
    for member in obj.members.values():
        if member.is_alias:
            continue
        if member.is_function:
            yield member
        elif member.is_class or member.is_module:
            yield from _functions(member)


class DefaultsByValue(griffe.Extension):
    """Replace UPPER_CASE constant defaults by their literal values, package-wide."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        for func in _functions(pkg):
            for param in func.parameters:
                default = param.default
                name = str(default) if isinstance(default, (griffe.ExprName, str)) else ""
                if _CONSTANT.match(name):
                    value = _literal_value(func, name)
                    if value is not None:
                        param.default = value
