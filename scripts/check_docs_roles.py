"""
Fail when a raw Sphinx role (``:func:``, ``:class:``…) reaches the built documentation site.

Usage: ``python scripts/check_docs_roles.py SITE_DIR``. Run by ``make docs`` and ``make test``
after ``mkdocs build --strict``; ``scripts/griffe_sphinx_roles.py`` is what turns roles into links.
"""

from __future__ import annotations

import re
import sys
from html import unescape
from pathlib import Path

#: A role as it shows in HTML: ``:func:`` followed by the (now HTML) backticked target.
RAW_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const|ref|term):(?:`|<code>)")
TAG = re.compile(r"<[^>]+>")


def leftovers(site: Path) -> list[str]:
    """Return ``page: text`` for every raw role in the site's HTML pages."""
    found = []
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for match in RAW_ROLE.finditer(text):
            snippet = unescape(TAG.sub("", text[match.start() : match.end() + 80])).split("\n")[0]
            found.append(f"{page.relative_to(site)}: {snippet}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: check_docs_roles.py SITE_DIR", file=sys.stderr)
        return 2
    site = Path(argv[0])
    found = leftovers(site)
    for line in found:
        print(f"raw Sphinx role in the built docs: {line}")
    if found:
        print(f"{len(found)} raw role(s): write them so scripts/griffe_sphinx_roles.py can convert them")
        return 1
    print(f"No raw Sphinx roles in {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
