"""The server-rendered /chat page: markup in the chosen language plus the boot data its script reads."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from adapters.webchat import strings
from adapters.webchat.people import ROLES


def pick_lang(query_lang: str | None, accept_language: str | None, default: str = "en") -> str:
    """?lang= first, then the browser's first language, then the desk's default."""
    if query_lang in strings.LANGS:
        return query_lang
    first = (accept_language or "").split(",")[0].strip().lower()
    if first.startswith("zh"):
        return "zh-CN"
    if first.startswith("en"):
        return "en"
    return default if default in strings.LANGS else "en"


def _json_for_script(data: Any) -> str:
    # Inside <script type="application/json"> only "</script" could end the element early;
    # escaping <, > and & keeps any name from config inert there.
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(*, base: str, lang: str, boot: dict[str, Any]) -> str:
    def s(key: str) -> str:
        return escape(strings.text(key, lang))

    people = "".join(f'<option value="{escape(str(p["name"]))}"></option>' for p in boot["people"])
    roles = "".join(f'<option value="{r}" data-i18n="role.{r}">{s("role." + r)}</option>' for r in ROLES)
    return f"""<!doctype html>
<html lang="{escape(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{s("app.title")}</title>
<link rel="stylesheet" href="{escape(base)}/static/chat.css">
<script type="application/json" id="boot">{_json_for_script(boot)}</script>
<script src="{escape(base)}/static/chat.js" defer></script>
</head>
<body>
<header class="topbar">
  <h1 data-i18n="app.title">{s("app.title")}</h1>
  <span id="status" class="status" role="status" hidden></span>
  <span class="spacer"></span>
  <span id="me" class="me" hidden></span>
  <button id="switch-person" type="button" class="ghost" data-i18n="person.switch" hidden>{s("person.switch")}</button>
  <button id="lang-toggle" type="button" class="ghost" data-i18n="lang.toggle">{s("lang.toggle")}</button>
</header>
<main>
<section id="picker" class="picker">
  <form id="picker-form" novalidate>
    <h2 data-i18n="picker.heading">{s("picker.heading")}</h2>
    <label for="name" data-i18n="picker.name">{s("picker.name")}</label>
    <input id="name" name="name" list="known-people" maxlength="40" autocomplete="off"
           data-i18n-placeholder="picker.name_placeholder" placeholder="{s("picker.name_placeholder")}">
    <datalist id="known-people">{people}</datalist>
    <label for="role" data-i18n="picker.role">{s("picker.role")}</label>
    <select id="role" name="role">{roles}</select>
    <p id="picker-error" class="error" role="alert" hidden></p>
    <button type="submit" class="primary" data-i18n="picker.enter">{s("picker.enter")}</button>
    <p class="hint" data-i18n="picker.hint">{s("picker.hint")}</p>
    <p class="hint" data-i18n="picker.tab_hint">{s("picker.tab_hint")}</p>
  </form>
</section>
<section id="chat" class="chat" hidden>
  <nav id="rooms" class="rooms" aria-label="{s("rooms.heading")}"></nav>
  <div class="room">
    <div id="messages" class="messages" aria-live="polite"></div>
    <form id="composer" class="composer" novalidate>
      <div id="thread-banner" class="thread-banner" hidden>
        <span data-i18n="composer.thread">{s("composer.thread")}</span>
        <span id="thread-quote" class="thread-quote"></span>
        <button id="thread-cancel" type="button" class="ghost" data-i18n="composer.cancel_thread">{s("composer.cancel_thread")}</button>
      </div>
      <p id="composer-error" class="error" role="alert" hidden></p>
      <div class="composer-row">
        <textarea id="text" rows="2" data-i18n-placeholder="composer.placeholder"
                  placeholder="{s("composer.placeholder")}"></textarea>
        <button id="send" type="submit" class="primary" data-i18n="composer.send">{s("composer.send")}</button>
      </div>
      <p class="hint" data-i18n="composer.hint">{s("composer.hint")}</p>
    </form>
  </div>
</section>
</main>
</body>
</html>
"""


def unauthorized_page() -> str:
    en = escape(strings.text("error.unauthorized", "en"))
    zh = escape(strings.text("error.unauthorized", "zh-CN"))
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>401</title></head>'
            f"<body><p>{en}</p><p lang=\"zh-CN\">{zh}</p></body></html>")
