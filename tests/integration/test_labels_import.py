"""`feedback triage import-labels FILE.csv`: a company's labelled history becomes training data.

Run as an operator would (a real process on a real register). Every bad row gets one line
with its line number and what is wrong, never the customer's text or contact; good rows
are stored masked; the exit status says whether anything was bad (unless --skip-bad).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import scalar
from test_cli import feedback

from feedback.privacy.masking import Masker, load_mask_config
from feedback.triage.classify import Classifier
from feedback.triage.labels_import import LabelFileError, import_labels

PHONE = "13812345678"
EMAIL = "zhang.wei@example.com"


def write_csv(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header or ["text", "category", "priority"])
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


ROWS = [
    ["耳机左耳没声音了，请联系" + PHONE, "function_problem", "high"],          # line 2: good, masked
    ["客服电话一直没人接", "服务投诉", ""],                                        # line 3: good, zh label
    ["希望增加夜间模式", "Feature request", "低"],                               # line 4: good, en label, zh priority
    ["", "other", ""],                                                       # line 5: empty text
    ["我的邮箱是" + EMAIL + "，退款呢", "refunds", ""],                            # line 6: unknown category
    ["积分兑换的东西什么时候发", "other", "asap"],                                 # line 7: bad priority
    ["客服电话一直没人接", "service_complaint", ""],                               # line 8: duplicate of line 3
    ["三个字段不够", "other", "low", PHONE],                                     # line 9: wrong number of fields
    ["账单多扣了50元", PHONE, ""],                                              # line 10: a phone as category
]


def test_bad_rows_are_listed_one_line_each_good_rows_imported_masked(register, tmp_path):
    path = write_csv(tmp_path / "helpdesk-export.csv", ROWS)
    out = feedback("triage", "import-labels", str(path), "--json")
    assert out.returncode == 1, out.stderr                   # bad rows and no --skip-bad
    bad = [line for line in out.stderr.splitlines() if ": line " in line]
    assert bad == [
        "helpdesk-export.csv: line 5: text is empty",
        "helpdesk-export.csv: line 6: unknown category 'refunds' for preset A; one of: function_problem, "
        "service_complaint, feature_request, other, praise",
        "helpdesk-export.csv: line 7: unknown priority 'asap'; one of: urgent, high, medium, low (or empty)",
        "helpdesk-export.csv: line 8: duplicate text: same as line 3",
        "helpdesk-export.csv: line 9: expected 3 fields (text, category, priority), found 4",
        bad[5],
    ]
    assert bad[5].startswith("helpdesk-export.csv: line 10: unknown category '")
    for secret in (PHONE, EMAIL, "退款呢", "耳机左耳"):       # no text, no contact, in any message
        assert secret not in out.stderr and secret not in out.stdout
    report = json.loads(out.stdout)
    assert (report["rows"], report["imported"], report["bad"], report["masked"]) == (9, 3, 6, 1)

    with register.connect() as conn:
        rows = conn.execute(sa.text("SELECT source, text, category, priority, batch FROM feedback.training_label "
                                    "ORDER BY id")).all()
    assert [(r.category, r.priority) for r in rows] == [
        ("function_problem", "high"), ("service_complaint", None), ("feature_request", "low")]
    assert {r.source for r in rows} == {"import"}
    assert rows[0].batch == "helpdesk-export.csv:2"
    assert PHONE not in rows[0].text and "耳机左耳没声音了" in rows[0].text       # masked before storage

    # --skip-bad: same report, exit 0; and the good rows are already there (a re-import changes nothing).
    again = feedback("triage", "import-labels", str(path), "--skip-bad", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["unchanged"] == 3 and json.loads(again.stdout)["imported"] == 0
    assert scalar(register, "SELECT count(*) FROM feedback.training_label") == 3


def test_a_relabelled_row_updates_its_label_instead_of_doubling(register, tmp_path):
    clf, masker, now = Classifier.from_config(preset="A"), Masker(load_mask_config()), datetime.now(UTC)
    first = write_csv(tmp_path / "a.csv", [["积分兑换的东西什么时候发", "other", ""]])
    report = import_labels(register, first, classifier=clf, masker=masker, at=now, actor="ops")
    assert (report.imported, report.updated) == (1, 0)
    second = write_csv(tmp_path / "b.csv", [["积分兑换的东西什么时候发 ", "feature_request", "low"]])
    report = import_labels(register, second, classifier=clf, masker=masker, at=now, actor="ops")
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 0)
    assert scalar(register, "SELECT category || '/' || priority FROM feedback.training_label") == "feature_request/low"


def test_whole_file_problems_are_one_clear_line(register, tmp_path):
    wrong_header = write_csv(tmp_path / "x.csv", [["some text", "other"]], header=["body", "label"])
    out = feedback("triage", "import-labels", str(wrong_header))
    assert out.returncode == 2
    assert out.stderr.strip() == ("error: line 1: missing column 'text', 'category' (found: 'body', 'label'); "
                                  "expected text, category and optionally priority")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("text,category\n客服电话一直没人接,service_complaint\n".encode("gbk"))
    out = feedback("triage", "import-labels", str(gbk))
    assert out.returncode == 2 and "give --encoding gb18030" in out.stderr
    out = feedback("triage", "import-labels", str(gbk), "--encoding", "gb18030")
    assert out.returncode == 0, out.stderr
    assert scalar(register, "SELECT category FROM feedback.training_label") == "service_complaint"
    with pytest.raises(LabelFileError, match="no such file"):
        import_labels(register, tmp_path / "missing.csv", classifier=Classifier.from_config(preset="A"),
                      masker=Masker(load_mask_config()), at=datetime.now(UTC), actor="ops")


def test_dry_run_validates_and_stores_nothing(register, tmp_path):
    path = write_csv(tmp_path / "dry.csv", ROWS[:3])
    out = feedback("triage", "import-labels", str(path), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "3 row(s): would import 3, updated 0, unchanged 0, 0 bad" in out.stderr
    assert scalar(register, "SELECT count(*) FROM feedback.training_label") == 0
