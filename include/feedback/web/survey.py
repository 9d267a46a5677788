"""The survey page behind the links in survey mails: `GET` shows it, `POST` records the answer.

`GET /survey/{token}` (and `HEAD`) only checks the link and renders a small bilingual
page with the active scale's choices and a comment box. It records nothing, because
mail scanners and link previews open every link in a mail before the customer does.
The survey mail's buttons link to `GET /survey/{token}?choice=<outcome>`: the page opens
with that answer preselected (a score scale starts at the band's top score), and still
only the customer's `POST` records it.
`POST /survey/{token}` (the page's form, form-encoded) records the answer through the
same outcome rules as a phone callback. A tampered link is refused with 403, an
expired one with 410, a second answer with 409 — each with a friendly page.

The router takes the register from `deps.get_engine`, the clock from `deps.clock`
and the policy from `survey_policy` (all overridable in tests). Pages carry the
feedback number and the masked subject only, are never cached, and send no
Referer (the token is in the URL).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse
from jinja2 import Environment, select_autoescape
from sqlalchemy.engine import Engine

from feedback.callbacks.errors import BadAnswer, TaskClosed
from feedback.callbacks.policy import CallbackPolicy, load_policy
from feedback.callbacks.survey import SurveyView, answer_survey, survey_view
from feedback.callbacks.tokens import TokenExpired, TokenInvalid
from feedback.web import deps

log = logging.getLogger(__name__)
router = APIRouter(tags=["survey"])

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
}

_env = Environment(autoescape=select_autoescape(default_for_string=True), trim_blocks=True, lstrip_blocks=True)

PAGE = _env.from_string("""<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ title_zh }} / {{ title_en }}</title>
<style>
 body{margin:0;padding:16px;background:#f5f6f8;font-family:-apple-system,'PingFang SC','Microsoft YaHei',Arial,sans-serif;color:#1f2329}
 main{max-width:560px;margin:0 auto;background:#fff;border:1px solid #dee0e3;border-radius:6px;padding:20px}
 h1{font-size:18px;margin:0 0 4px 0} .en{color:#646a73;font-size:14px} p{line-height:1.6}
 .ref{font-family:Menlo,Consolas,monospace} fieldset{border:0;padding:0;margin:16px 0}
 label.choice{display:block;padding:8px;border:1px solid #dee0e3;border-radius:4px;margin:6px 0;cursor:pointer}
 textarea,input[type=number]{width:100%;box-sizing:border-box;font:inherit;padding:8px;border:1px solid #dee0e3;border-radius:4px}
 button{margin-top:12px;padding:10px 20px;font:inherit;background:#3370ff;color:#fff;border:0;border-radius:4px;cursor:pointer}
 .error{color:#d83931} .note{color:#8f959e;font-size:12px}
</style>
</head>
<body>
<main>
<h1>{{ title_zh }}</h1>
<div class="en">{{ title_en }}</div>
{% if view %}
<p>反馈编号 / Reference: <span class="ref">{{ view.feedback_no }}</span>{% if view.subject %}<br>主题 / Subject: {{ view.subject }}{% endif %}</p>
{% endif %}
{% for line in lines %}
<p>{{ line[0] }}<br><span class="en">{{ line[1] }}</span></p>
{% endfor %}
{% if form %}
<form method="post" accept-charset="utf-8">
 {% if error %}<p class="error">{{ error[0] }}<br>{{ error[1] }}</p>{% endif %}
 <fieldset>
 <legend>您对这次处理结果满意吗？ / How satisfied are you with how we handled it?</legend>
 {% if view.kind == 'score' %}
  <label for="score">请打分（{{ view.score_min }}–{{ view.score_max }} 分） / Your score ({{ view.score_min }}–{{ view.score_max }})</label>
  <input type="number" id="score" name="score" min="{{ view.score_min }}" max="{{ view.score_max }}" required{% if chosen_score is not none %} value="{{ chosen_score }}"{% endif %}>
  <p class="note">{% for label, en, span in bands %}{{ label }} / {{ en }}: {{ span }}{% if not loop.last %}; {% endif %}{% endfor %}</p>
 {% else %}
  {% for label, en, outcome in view.options %}
  <label class="choice"><input type="radio" name="rating" value="{{ label }}" required{% if label == chosen %} checked{% endif %}> {{ label }} / {{ en }}</label>
  {% endfor %}
 {% endif %}
 </fieldset>
 <label for="comment">意见与建议（可选） / Comments and suggestions (optional)</label>
 <textarea id="comment" name="comment" rows="4" maxlength="2000"></textarea>
 <button type="submit">提交 / Submit</button>
 <p class="note">只能提交一次。/ You can answer once.</p>
</form>
{% endif %}
</main>
</body>
</html>
""")

TEXT = {
    "survey": (("客户满意度回访", "Customer satisfaction survey"), []),
    "invalid": (("链接无效", "This link is not valid"),
                [("请确认链接完整无误，或直接回复我们的邮件。", "Please check that the whole link was copied, or simply reply "
                  "to our mail.")]),
    "expired": (("链接已过期", "This link has expired"),
                [("感谢您的关注。如问题仍未解决，请直接回复我们的邮件，我们会继续跟进。",
                  "Thank you. If the problem is not solved, simply reply to our mail and we will follow up.")]),
    "answered": (("已收到您的评价", "We already have your answer"),
                 [("这份问卷已经提交过，无需再次提交。感谢您的反馈！", "This survey has already been answered. "
                   "Thank you for your feedback!")]),
    "closed": (("问卷已关闭", "This survey is closed"),
               [("该反馈正在重新处理中，我们会再次与您联系。", "This feedback is being handled again; we will contact "
                 "you again.")]),
    "thanks_ok": (("感谢您的评价", "Thank you for your answer"),
                  [("您的评价已记录，该反馈已关闭。", "Your answer has been recorded and the case is closed.")]),
    "thanks_reopen": (("感谢您的评价", "Thank you for your answer"),
                      [("很抱歉问题没有让您满意。我们已重新打开该反馈，主管会安排二次处理并与您联系。",
                        "We are sorry it did not work out. We have reopened the case; a supervisor will have it "
                        "handled again and contact you.")]),
    "thanks": (("感谢您的评价", "Thank you for your answer"), [("您的评价已记录。", "Your answer has been recorded.")]),
}
ERRORS = {
    "rating": ("请选择一项评价。", "Please choose one answer."),
    "score": ("请填写有效的分数。", "Please enter a valid score."),
}


def survey_policy() -> CallbackPolicy:
    """callbacks.yaml as it is now (read per request: a changed scale applies to the next page)."""
    return load_policy()


EngineDep = Annotated[Engine, Depends(deps.get_engine)]
PolicyDep = Annotated[CallbackPolicy, Depends(survey_policy)]
NowDep = Annotated[datetime, Depends(deps.clock)]


def _band_legend(policy: CallbackPolicy) -> list[tuple[str, str, str]]:
    """(label, English label, "90–100") for each band of a score scale, highest first."""
    spec = policy.scale.spec
    out, upper = [], spec.max
    for band in spec.bands:
        out.append((band.label, band.en, f"{band.min}–{upper}"))
        upper = band.min - 1
    return out


def preselected(policy: CallbackPolicy, choice: str | None) -> tuple[str | None, int | None]:
    """The answer a mail button chose (`?choice=satisfied`, or a label): (choice label, score to start at).

    Only fills the form in; an unknown choice preselects nothing.
    """
    text = (choice or "").strip()
    if not text:
        return None, None
    scale = policy.scale
    for i, (label, en, outcome) in enumerate(scale.options()):
        if text in (label, outcome) or text.lower() == en.lower():
            if scale.kind == "score":
                return None, scale.spec.max if i == 0 else scale.spec.bands[i - 1].min - 1
            return label, None
    return None, None


def _page(kind: str, status: int, view: SurveyView | None = None, *, policy: CallbackPolicy | None = None,
          form: bool = False, error: tuple[str, str] | None = None, choice: str | None = None) -> HTMLResponse:
    (title_zh, title_en), lines = TEXT[kind]
    bands = _band_legend(policy) if policy is not None and view is not None and view.kind == "score" else []
    chosen, chosen_score = preselected(policy, choice) if policy is not None and form else (None, None)
    html = PAGE.render(lang="en" if view is not None and view.locale == "en" else "zh-CN", title_zh=title_zh,
                       title_en=title_en, lines=lines, view=view, form=form, error=error, bands=bands,
                       chosen=chosen, chosen_score=chosen_score)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _refused(exc: Exception) -> HTMLResponse:
    if isinstance(exc, TokenExpired):
        return _page("expired", 410)
    return _page("invalid", 403)


@router.api_route("/survey/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse,
                  name="survey_page")
def show_survey(token: str, engine: EngineDep, policy: PolicyDep, now: NowDep,
                choice: str | None = None) -> HTMLResponse:
    """The survey form, with the mail button's `choice` preselected; records nothing (scanners open links too)."""
    try:
        view = survey_view(engine, token, now, policy)
    except (TokenInvalid, TokenExpired) as exc:
        return _refused(exc)
    if not view.open:
        return _page("answered" if view.status in ("done", "unreachable") else "closed", 200, view)
    return _page("survey", 200, view, policy=policy, form=True, choice=choice)


@router.post("/survey/{token}", response_class=HTMLResponse, name="survey_answer")
def answer(token: str, engine: EngineDep, policy: PolicyDep, now: NowDep,
           rating: Annotated[str | None, Form()] = None, score: Annotated[str | None, Form()] = None,
           comment: Annotated[str | None, Form()] = None) -> HTMLResponse:
    """Record the customer's answer (once); the outcome rules close or reopen the item."""
    try:
        result = answer_survey(engine, token, now, rating=rating, score=score, comment=comment,
                               policy=policy)
    except (TokenInvalid, TokenExpired) as exc:
        return _refused(exc)
    except TaskClosed as exc:
        log.info("survey: answer for callback task %s refused: already %s", exc.task_id, exc.status)
        kind = "answered" if exc.status in ("done", "unreachable") else "closed"
        return _page(kind, 409)
    except BadAnswer:
        view = survey_view(engine, token, now, policy)
        error = ERRORS["score" if view.kind == "score" else "rating"]
        return _page("survey", 422, view, policy=policy, form=True, error=error)
    log.info("survey: callback task %s answered (%s, %s)", result.task_id, result.outcome, result.action)
    kind = {"closed": "thanks_ok", "reopened": "thanks_reopen"}.get(result.action, "thanks")
    return _page(kind, 200)
