/*
 * Feedback form for company websites — plain JavaScript, no build step, no dependencies.
 *
 * Embed it with one script tag and a container:
 *
 *   <div id="feedback-form"></div>
 *   <script src="https://<airflow-host>/feedback/static/feedback-form.js"
 *           data-form="contact_zh"
 *           data-endpoint="https://<airflow-host>/feedback/intake/contact_zh"></script>
 *
 * Optional attributes: data-lang="zh-CN|en" (default: the page's <html lang>, else zh-CN),
 * data-target="<id of the container>" (default: feedback-form).
 * The site's origin must be listed in the form's `allowed_origins` (include/config/channels.yaml)
 * when the endpoint is on another host. The stylesheet next to this file is loaded automatically.
 *
 * The checks below mirror the server's (feedback.web.schema); the server stays the authority and
 * its field errors (422) are shown next to the fields. A submission is sent as JSON, or as
 * multipart/form-data when a file is attached, with an Idempotency-Key so a retry after a network
 * error is not stored twice.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) { return; }

  var TEXT = {
    "zh-CN": {
      name: "姓名", phone: "手机号码", email: "电子邮箱", category: "问题类别", message: "留言内容",
      attachment: "附件（可选，图片、PDF 或文本，最大 5 MB）", submit: "提交", sending: "正在提交…",
      choose: "请选择",
      categories: {
        function_problem: "功能问题", service_complaint: "服务投诉", feature_request: "需求建议",
        other: "其他问题", praise: "表扬"
      },
      errors: {
        "required": "此项为必填项",
        "not a phone number": "请输入有效的电话号码",
        "not a phone number: expected a mobile number (11 digits), a landline with its area code (e.g. 010-65529988) or an international number starting with +":
          "请输入有效的电话号码：11 位手机号、带区号的座机（如 010-65529988）或以 + 开头的国际号码",
        "not an e-mail address": "请输入有效的电子邮箱地址",
        "not one of the choices": "请选择列表中的类别",
        "too_long": "内容过长",
        "file_too_large": "附件不能超过 5 MB",
        "file_type": "仅支持图片、PDF 或文本文件",
        "type not allowed (images, PDF or plain text)": "仅支持图片、PDF 或文本文件"
      },
      received: "提交成功，回执编号：",
      byMail: "受理编号将通过邮件发送到您留下的邮箱，请留意查收。",
      invalid: "提交未通过校验，请检查后重试。",
      tooLarge: "提交内容过大，请缩短留言或减小附件。",
      rateLimited: "提交过于频繁，请稍后再试。",
      failed: "提交失败，请稍后再试。"
    },
    "en": {
      name: "Name", phone: "Phone", email: "Email", category: "Category", message: "Message",
      attachment: "Attachment (optional: image, PDF or text, up to 5 MB)", submit: "Submit", sending: "Sending…",
      choose: "Please choose",
      categories: {
        function_problem: "Technical problem", service_complaint: "Complaint", feature_request: "Suggestion",
        other: "Other", praise: "Compliment"
      },
      errors: {
        "required": "This field is required",
        "not a phone number": "Please enter a valid phone number",
        "not a phone number: expected a mobile number (11 digits), a landline with its area code (e.g. 010-65529988) or an international number starting with +":
          "Please enter a valid phone number: a mobile number, a landline with its area code (e.g. 010-65529988) or an international number starting with +",
        "not an e-mail address": "Please enter a valid email address",
        "not one of the choices": "Please pick a category from the list",
        "too_long": "Too long",
        "file_too_large": "The attachment must not exceed 5 MB",
        "file_type": "Only images, PDF or text files",
        "type not allowed (images, PDF or plain text)": "Only images, PDF or text files"
      },
      received: "Thank you! Your receipt number: ",
      byMail: "Your case number will follow by e-mail to the address you gave.",
      invalid: "Please check the highlighted fields.",
      tooLarge: "The submission is too large; shorten the message or attach a smaller file.",
      rateLimited: "Too many submissions; please try again in a minute.",
      failed: "Sending failed; please try again later."
    }
  };

  // Mirrors the server's schema (include/config/channels.yaml, feedback.channels.config.default_form_fields).
  var FIELDS = [
    { name: "name", type: "text", maxLength: 2000 },
    { name: "phone", type: "phone", maxLength: 2000, input: "tel" },
    { name: "email", type: "email", maxLength: 2000, input: "email" },
    { name: "category", type: "choice",
      choices: ["function_problem", "service_complaint", "feature_request", "other", "praise"] },
    { name: "message", type: "text", maxLength: 10000, required: true, multiline: true }
  ];
  // Same shapes as feedback.web.schema.PHONE: mainland mobile, landline with area code, 400/800, international.
  var PHONE = /^(?:(?:\+86|0086|86)?1[3-9][0-9]{9}|(?:0|\+86|0086)[1-9][0-9]{1,2}[0-9]{7,8}(?:(?:ext|x|转|#)[0-9]{1,6})?|[48]00[0-9]{7}|(?:\+|00)(?!86)[1-9][0-9]{6,14})$/i;
  var PHONE_REASON = "not a phone number: expected a mobile number (11 digits), a landline with its area code " +
    "(e.g. 010-65529988) or an international number starting with +";
  var PHONE_SEPARATORS = /[\s\-().]/g;
  var EMAIL = /^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$/;
  var MAX_FILE_BYTES = 5 * 1024 * 1024;
  var FILE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"];

  var formName = script.getAttribute("data-form");
  var endpoint = script.getAttribute("data-endpoint");
  var lang = script.getAttribute("data-lang") || document.documentElement.lang || "zh-CN";
  lang = /^en/i.test(lang) ? "en" : "zh-CN";
  var t = TEXT[lang];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function loadStylesheet() {
    var href = script.src.replace(/\.js(\?.*)?$/, ".css");
    if (document.querySelector('link[data-feedback-form]')) { return; }
    document.head.appendChild(el("link", { rel: "stylesheet", href: href, "data-feedback-form": "" }));
  }

  function fieldRow(field, id) {
    var control;
    if (field.type === "choice") {
      control = el("select", { id: id, name: field.name }, [el("option", { value: "" }, [t.choose])]);
      field.choices.forEach(function (value) {
        control.appendChild(el("option", { value: value }, [t.categories[value] || value]));
      });
    } else if (field.multiline) {
      control = el("textarea", { id: id, name: field.name, rows: "6", maxlength: String(field.maxLength) });
    } else {
      control = el("input", { id: id, name: field.name, type: field.input || "text",
                              maxlength: String(field.maxLength) });
    }
    if (field.required) { control.setAttribute("aria-required", "true"); }
    var label = el("label", { "for": id }, [t[field.name] + (field.required ? " *" : "")]);
    var error = el("span", { "class": "ff-error", "data-error-for": field.name, role: "alert" });
    return el("div", { "class": "ff-row" }, [label, control, error]);
  }

  function build(container) {
    var prefix = "ff-" + formName + "-";
    var form = el("form", { "class": "ff-form", novalidate: "", lang: lang });
    FIELDS.forEach(function (field) { form.appendChild(fieldRow(field, prefix + field.name)); });
    var file = el("input", { id: prefix + "attachment", name: "attachments", type: "file",
                             accept: FILE_TYPES.join(",") });
    form.appendChild(el("div", { "class": "ff-row" }, [
      el("label", { "for": prefix + "attachment" }, [t.attachment]), file,
      el("span", { "class": "ff-error", "data-error-for": "attachments", role: "alert" })
    ]));
    // Honeypot: hidden from people (and screen readers), filled in by bots; the server refuses it.
    form.appendChild(el("div", { "class": "ff-hp", "aria-hidden": "true" }, [
      el("label", { "for": prefix + "website" }, ["Website"]),
      el("input", { id: prefix + "website", name: "website", type: "text", tabindex: "-1", autocomplete: "off" })
    ]));
    var button = el("button", { type: "submit", "class": "ff-submit" }, [t.submit]);
    form.appendChild(el("div", { "class": "ff-row ff-actions" }, [button]));
    form.appendChild(el("p", { "class": "ff-status", role: "status", "aria-live": "polite" }));
    container.appendChild(form);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit(form, button);
    });
  }

  function values(form) {
    var out = {};
    FIELDS.forEach(function (field) { out[field.name] = form.elements[field.name].value.trim(); });
    out.website = form.elements.website.value;
    return out;
  }

  function check(fields, file) {
    var errors = {};
    FIELDS.forEach(function (field) {
      var value = fields[field.name];
      if (!value) {
        if (field.required) { errors[field.name] = "required"; }
        return;
      }
      if (field.maxLength && value.length > field.maxLength) { errors[field.name] = "too_long"; }
      else if (field.type === "phone" && !PHONE.test(value.replace(PHONE_SEPARATORS, ""))) {
        errors[field.name] = PHONE_REASON;
      } else if (field.type === "email" && !EMAIL.test(value)) { errors[field.name] = "not an e-mail address"; }
      else if (field.type === "choice" && field.choices.indexOf(value) < 0) {
        errors[field.name] = "not one of the choices";
      }
    });
    if (file) {
      if (file.size > MAX_FILE_BYTES) { errors.attachments = "file_too_large"; }
      else if (file.type && FILE_TYPES.indexOf(file.type) < 0) { errors.attachments = "file_type"; }
    }
    return errors;
  }

  function showErrors(form, errors) {
    var nodes = form.querySelectorAll(".ff-error");
    Array.prototype.forEach.call(nodes, function (node) {
      var reason = errors[node.getAttribute("data-error-for")];
      node.textContent = reason ? (t.errors[reason] || reason) : "";
      var control = form.elements[node.getAttribute("data-error-for")];
      if (control && control.setAttribute) {
        if (reason) { control.setAttribute("aria-invalid", "true"); } else { control.removeAttribute("aria-invalid"); }
      }
    });
  }

  function status(form, text, kind) {
    var node = form.querySelector(".ff-status");
    node.textContent = text;
    node.className = "ff-status" + (kind ? " ff-" + kind : "");
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function request(fields, file, key) {
    var headers = { "Idempotency-Key": key };
    var body;
    if (file) {
      body = new FormData();
      Object.keys(fields).forEach(function (name) { if (fields[name]) { body.append(name, fields[name]); } });
      body.append("locale", lang);
      body.append("attachments", file, file.name);
    } else {
      var sent = {};
      Object.keys(fields).forEach(function (name) { if (fields[name]) { sent[name] = fields[name]; } });
      body = JSON.stringify({ fields: sent, locale: lang });
      headers["Content-Type"] = "application/json";
    }
    return fetch(endpoint, { method: "POST", headers: headers, body: body, credentials: "omit" });
  }

  function submit(form, button) {
    var fields = values(form);
    var file = form.elements.attachments.files[0] || null;
    var errors = form.dataset.clientChecks === "off" ? {} : check(fields, file);
    showErrors(form, errors);
    if (Object.keys(errors).length) {
      status(form, t.invalid, "error");
      return;
    }
    // One key per filled-in form: a resend after a lost answer gets the same receipt.
    form.dataset.idempotencyKey = form.dataset.idempotencyKey || newKey();
    button.disabled = true;
    status(form, t.sending, "");
    request(fields, file, form.dataset.idempotencyKey).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.status === 202 && body.receipt_id) {
          form.reset();
          delete form.dataset.idempotencyKey;
          showErrors(form, {});
          status(form, t.received + body.receipt_id, "ok");
          var receipt = el("strong", { "class": "ff-receipt" }, [body.receipt_id]);
          var node = form.querySelector(".ff-status");
          node.textContent = t.received;
          node.appendChild(receipt);
          if (body.case_number_by_mail) {
            node.appendChild(el("span", { "class": "ff-by-mail" }, [" " + t.byMail]));
          }
        } else if (response.status === 422) {
          delete form.dataset.idempotencyKey;
          showErrors(form, body.fields || {});
          status(form, t.invalid, "error");
        } else if (response.status === 413) {
          delete form.dataset.idempotencyKey;
          status(form, t.tooLarge, "error");
        } else if (response.status === 429) {
          status(form, t.rateLimited, "error");
        } else {
          status(form, t.failed, "error");
        }
      });
    }).catch(function () {
      status(form, t.failed, "error");
    }).then(function () {
      button.disabled = false;
    });
  }

  function start() {
    var container = document.getElementById(script.getAttribute("data-target") || "feedback-form");
    if (!container || !formName || !endpoint) { return; }
    loadStylesheet();
    build(container);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
