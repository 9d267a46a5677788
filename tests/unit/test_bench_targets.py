"""The benchmark results' summary of issue 17's targets: every section's verdict line, gathered once."""

from __future__ import annotations

from bench import run, targets


def test_summary_gathers_each_sections_verdicts_with_their_times():
    sections = {
        "triage": "## Triage\n\n" + targets.line("triage at least 0.20× COPY", "0.10× (1,383 items/s)", False)
        + "\n\n" + targets.line("gate at most 10%", "2.8%", True) + "\n\n_Measured 2026-12-04 21:25 UTC on x._",
        "reports": "## Reports\n\n" + targets.line("report under 15 s", "13.2 s", True)
        + "\n\n_Measured 2026-12-04 21:29 UTC on x._",
        "intake": "## Intake\n\nno target here\n\n_Measured 2026-12-04 21:20 UTC on x._",
    }
    table = targets.summary(sections)
    assert "2 of 3 met." in table
    assert "| triage | triage at least 0.20× COPY | 0.10× (1,383 items/s) | **not met** | 2026-12-04 21:25 |" in table
    assert "| triage | gate at most 10% | 2.8% | met | 2026-12-04 21:25 |" in table
    assert "| reports | report under 15 s | 13.2 s | met | 2026-12-04 21:29 |" in table
    assert "intake" not in table
    assert targets.summary({"intake": sections["intake"]}) == ""


def test_merge_remakes_the_summary_from_kept_and_fresh_sections():
    old = run.merge("", {"triage": "## Triage\n\n" + targets.line("triage fast", "0.10×", False)
                         + "\n\n_Measured 2026-12-04 21:25 UTC on x._",
                         "reports": "## Reports\n\n" + targets.line("report fast", "13 s", True)
                         + "\n\n_Measured 2026-12-04 21:29 UTC on x._"})
    assert old.count("<!-- bench:targets -->") == 1
    assert "1 of 2 met." in old
    new = run.merge(old, {"triage": "## Triage\n\n" + targets.line("triage fast", "0.21×", True)
                          + "\n\n_Measured 2026-12-05 09:00 UTC on x._"})
    assert new.count("<!-- bench:targets -->") == 1
    assert "2 of 2 met." in new and "| triage | triage fast | 0.21× | met | 2026-12-05 09:00 |" in new
    assert "| reports | report fast | 13 s | met | 2026-12-04 21:29 |" in new   # a kept section keeps its line
    assert new.index("bench:targets") < new.index("bench:triage") < new.index("bench:reports")
    assert run.merge(new, {}) == new
