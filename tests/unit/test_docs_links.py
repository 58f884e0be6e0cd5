"""The docs hold together: every relative link in README.md, CHANGELOG.md, the bench history and docs/*.md leads to a
file (and, for `#anchor` into a markdown file, to one of its headings, by GitHub's slug rules); the
README stays short; and dates stay out of the README and docs/ (history is the changelog's and the
bench history's)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
# Dates these pages may keep: abi.md cites the upstream commits it was established against by
# their dates; hotpath.md is kept as it was written (its transport table names its run).
DATED_PAGES = {"abi.md", "hotpath.md"}

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "results" / "history.md",
            *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where brackets and hashes are not markdown."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors as its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[str]:
    text = prose(page.read_text())
    return INLINE_LINK.findall(text) + REFERENCE.findall(text)


def broken_links(page: Path) -> list[str]:
    """What is wrong with each relative link of the page, as 'page: target: why'."""
    problems = []
    for target in links(page):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # an outside address
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(ROOT) if page.is_relative_to(ROOT) else page}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where}: no such heading in {dest.name}")
    return problems


def test_every_relative_link_leads_to_a_file_and_its_heading():
    checked = [p for p in pages() if p.exists()]
    assert len(checked) >= 10, checked  # the README, the changelog and the docs pages
    assert sum(len(links(p)) for p in checked) > 50  # the pattern finds the links at all
    assert [problem for p in checked for problem in broken_links(p)] == []


def test_a_broken_link_or_anchor_is_reported(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Its `part`: two\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[fine](other.md#its-part-two) [fine](#page) [outside](https://example.org/x)\n"
                    "[gone](missing.md) [no heading](other.md#nowhere) [no own heading](#elsewhere)\n"
                    "```\n[in code](not-checked.md)\n```\n`[span](not-checked.md)`\n")
    assert [p.split(": ", 1)[1] for p in broken_links(page)] == [
        "missing.md: no such file", "other.md#nowhere: no such heading in other.md",
        "#elsewhere: no such heading in page.md"]


def test_slugs_follow_github():
    assert slug("Vector envs: many matches as one array") == "vector-envs-many-matches-as-one-array"
    assert slug("Humans with the game's own client") == "humans-with-the-games-own-client"
    assert slug("3. Loading and calls") == "3-loading-and-calls"
    assert slug("gRPC's I/O engine, and the client's side of the transport") == \
        "grpcs-io-engine-and-the-clients-side-of-the-transport"
    assert slug("snake_case and-dash") == "snake_case-and-dash"


def test_the_readme_stays_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines < 300, f"README.md has {lines} lines: move the detail to a page in docs/"


def test_dates_stay_in_the_changelog():
    dated = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if p.name not in DATED_PAGES
             for n, line in enumerate(p.read_text().splitlines(), 1) if DATE.search(line)]
    assert dated == [], "history goes to CHANGELOG.md, dated runs to benchmarks/results/history.md"
