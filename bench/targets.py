"""Issue 17's targets: one marked line in the section that measures each, gathered at the top of the results.

Each section states its own verdict next to its figures (`line`); `summary` lists them all in one
table after every run, with the time each section was measured, so the file shows at a glance
which targets the last measurements meet and whether they come from one run.
"""

from __future__ import annotations

import re

MARK = "<!-- target -->"
_LINE = re.compile(re.escape(MARK) + r" \*\*Target \(issue 17\): (?P<what>.+?)\*\* — (?P<figure>.+): "
                   r"(?P<verdict>met|\*\*not met\*\*)\.$", re.M)
_MEASURED = re.compile(r"_Measured (\d{4}-\d\d-\d\d \d\d:\d\d) UTC")


def line(what: str, figure: str, met: bool) -> str:
    """The section's verdict on one target, in the form `summary` gathers."""
    return f"{MARK} **Target (issue 17): {what}** — {figure}: {'met' if met else '**not met**'}."


def summary(sections: dict[str, str]) -> str:
    """A table of every target line in `sections` (name -> markdown), in their order."""
    rows = []
    for name, body in sections.items():
        measured = _MEASURED.search(body)
        for m in _LINE.finditer(body):
            verdict = "met" if m["verdict"] == "met" else "**not met**"
            rows.append(f"| {name} | {m['what']} | {m['figure']} | {verdict} | "
                        f"{measured[1] if measured else '?'} |")
    if not rows:
        return ""
    met = sum(1 for r in rows if "| met |" in r)
    return "\n".join([
        "## Issue 17's targets, as last measured",
        "",
        f"{met} of {len(rows)} met. Each line is the verdict of the section below that measured it, against "
        "its baseline of the same run; a section refreshed alone (`--only`) keeps the others' lines and "
        "times.",
        "",
        "| section | target | figure | verdict | measured (UTC) |",
        "|---|---|---|---|---|",
        *rows,
    ])
