"""The embeddable form's files and the sample page that shows a site how to embed it.

Plain files, no build step: a website includes one script tag. The sample page
uses relative URLs, so it works wherever the app is mounted (`/feedback` under
Airflow's API server or the standalone app) and behind a path-rewriting proxy.
"""

from __future__ import annotations

import html
from pathlib import Path
from string import Template

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from feedback.web.intake import Reject, find_form
from feedback.web.runtime import IntakeRuntime

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
PAGE = WEB_DIR / "templates" / "form_page.html"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
PAGE_TEXT = {
    "zh-CN": {"title": "意见反馈", "intro": "请留下您的问题或建议，我们会尽快处理并联系您。留下邮箱的，受理编号会通过邮件发给您。"},
    "en": {"title": "Feedback", "intro": "Tell us about your problem or suggestion; we will get back to you soon. "
                                         "If you leave an e-mail address, your case number follows by mail."},
}
LANGS = {"zh": "zh-CN", "zh-cn": "zh-CN", "en": "en"}
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
               "base-uri 'none'; form-action 'self'")


def render_page(form_name: str, locale: str) -> str:
    """The sample page: the form's div and the one script tag a site copies."""
    text = PAGE_TEXT[locale]
    values = {"lang": locale, "title": text["title"], "intro": text["intro"], "form": form_name,
              "script_src": "../static/feedback-form.js", "endpoint": f"../intake/{form_name}"}
    return Template(PAGE.read_text(encoding="utf-8")).substitute({k: html.escape(v) for k, v in values.items()})


def pages_router(runtime: IntakeRuntime) -> APIRouter:
    router = APIRouter()

    @router.get("/forms/{form_name}", response_class=HTMLResponse)
    async def form_page(form_name: str, lang: str | None = None) -> Response:
        try:
            form = await run_in_threadpool(find_form, runtime, form_name)
        except Reject as refused:
            return refused.response()
        locale = LANGS.get((lang or "").lower(), form.locale)
        return HTMLResponse(render_page(form.name, locale), headers={"Content-Security-Policy": PAGE_POLICY})

    @router.get("/static/{file_name}")
    async def static_file(file_name: str) -> Response:
        path = STATIC_DIR / file_name
        kind = STATIC_TYPES.get(path.suffix)
        if kind is None or path.parent != STATIC_DIR or not path.is_file():
            return JSONResponse({"error": "not_found"}, status_code=404)
        return Response(path.read_bytes(), media_type=kind, headers={"Cache-Control": "public, max-age=300"})

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness only: answering needs neither the register nor the configuration."""
        return {"status": "ok"}

    return router
