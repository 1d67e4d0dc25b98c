"""
Griffe extension: render the Sphinx roles of the provider's docstrings in the MkDocs site.

The docstrings are Sphinx-style (``:param x:``, ``:class:`~pkg.mod.Name```), which IDEs, ``help()``
and Sphinx users read well. mkdocstrings parses the ``:param:`` fields but prints inline roles
raw. This extension rewrites each role, before rendering, into the cross-reference mkdocstrings
understands: a link when the target is documented on the site, else the name as code.

    :class:`~airflow_provider_smartlyq.hooks.smartlyq.SmartlyQHook`  ->  SmartlyQHook (linked)
    :func:`needs_reconnect`  ->  needs_reconnect() (resolved against the docstring's module)
    :meth:`Title <pkg.mod.Class.method>`  ->  Title

Configured in ``mkdocs.yml`` (mkdocstrings ``extensions``); ``scripts/check_docs_roles.py``
fails the docs build if a raw role still reaches the HTML.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

#: ``:role:`target``` with the roles used in this code base (``py:`` domain prefix allowed).
ROLE = re.compile(r":(?:py:)?(?P<role>class|func|meth|mod|data|attr|exc|obj|const):`(?P<body>[^`]+)`")
#: ``Title <target>`` inside a role.
TITLED = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^>]+)>$")


def _identifier(target: str, obj: Any) -> str:
    """Return the full dotted path of a role's target, resolved against the docstring's owner."""
    module = obj.module.path
    owner = obj if obj.is_class else obj.parent if obj.parent is not None and obj.parent.is_class else None
    if owner is not None and target.split(".")[0] in owner.members:  # a sibling method or attribute
        return f"{owner.path}.{target}"
    if target.startswith("."):  # relative to the module's package: ~.state.EmulatorState
        package = module.rsplit(".", 1)[0]
        return package + "." + target.lstrip(".")
    if "." not in target or target.split(".")[0] in _local_names(obj):
        return f"{module}.{target}"
    return target


def _local_names(obj: Any) -> set[str]:
    try:
        return set(obj.module.members)
    except Exception:  # a module without loaded members: resolve nothing locally
        return set()


def replace_roles(text: str, obj: Any) -> str:
    """Return ``text`` with every Sphinx role turned into an (optional) autorefs cross-reference."""

    def one(match: re.Match[str]) -> str:
        role, body = match["role"], match["body"].strip()
        titled = TITLED.match(body)
        if titled:
            title, target = titled["title"], titled["target"].strip()
        else:
            target = body.lstrip("~")
            title = target.rsplit(".", 1)[-1] if body.startswith("~") else target
            if role in ("func", "meth"):
                title += "()"
        identifier = html.escape(_identifier(target.lstrip("~"), obj), quote=True)
        return f'<autoref identifier="{identifier}" optional><code>{html.escape(title)}</code></autoref>'

    return ROLE.sub(one, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every loaded object's docstring."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = replace_roles(obj.docstring.value, obj)
