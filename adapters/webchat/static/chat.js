// deskbot web chat page: pick a person, talk in rooms over one websocket, draw the bot's cards.
// Every piece of text from people or the bot is placed with textContent, never parsed as HTML.
"use strict";

(function () {
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const $ = (id) => document.getElementById(id);
  const LANGS = ["en", "zh-CN"];
  const params = new URLSearchParams(location.search);
  const LONG_CHARS = 700;
  const LONG_LINES = 12;

  const state = {
    lang: pickLang(),
    person: null, // {name, role} this tab chose
    me: null, // {slug, name, role} the server admitted
    bot: null,
    rooms: [],
    current: null,
    messages: {}, // room id -> Map(message id -> message), in arrival order
    unread: {},
    threadRoot: null,
    paletteFor: null,
    expanded: new Set(), // ids of long messages shown in full
    ws: null,
    welcomed: false,
    leaving: false,
    retry: 0,
    nextRef: 1,
    pending: new Map(), // ref -> {kind, card}
  };

  function pickLang() {
    const asked = params.get("lang") || sessionStorage.getItem("deskbot.lang");
    return LANGS.includes(asked) ? asked : boot.lang;
  }

  function t(key, values) {
    const table = boot.strings[state.lang] || boot.strings.en;
    let text = table[key] || boot.strings.en[key] || key;
    for (const [name, value] of Object.entries(values || {})) text = text.split("{" + name + "}").join(String(value));
    return text;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function button(className, text, onClick, title) {
    const b = el("button", className, text);
    b.type = "button";
    if (title) b.title = title;
    b.addEventListener("click", onClick);
    return b;
  }

  // ---- language ----------------------------------------------------------------------------

  function applyLang() {
    document.documentElement.lang = state.lang;
    document.title = t("app.title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    $("rooms").setAttribute("aria-label", t("rooms.heading"));
    if (state.me) showMe();
    if ($("status").dataset.state) $("status").textContent = t("status." + $("status").dataset.state);
    renderRooms();
    renderMessages();
  }

  $("lang-toggle").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "zh-CN" : "en";
    sessionStorage.setItem("deskbot.lang", state.lang);
    applyLang();
    send({ type: "lang", lang: state.lang });
  });

  // ---- choosing who you are ------------------------------------------------------------------

  function allowedRoles(name) {
    const key = name.trim().toLowerCase();
    const known = boot.people.find((p) => p.name.toLowerCase() === key);
    return new Set(["employee", ...(known ? known.roles : [])]);
  }

  function updateRoleChoices() {
    const allowed = allowedRoles($("name").value);
    const select = $("role");
    for (const option of select.options) option.disabled = !allowed.has(option.value);
    if (select.selectedOptions[0] && select.selectedOptions[0].disabled) select.value = "employee";
  }

  $("name").addEventListener("input", updateRoleChoices);

  function showError(id, code, values) {
    const node = $(id);
    node.textContent = code ? t("error." + code, values) : "";
    node.hidden = !code;
  }

  $("picker-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("name").value.trim();
    if (!name) {
      showError("picker-error", "name_required");
      $("name").focus();
      return;
    }
    showError("picker-error", null);
    enter({ name: name, role: $("role").value });
  });

  $("switch-person").addEventListener("click", () => {
    sessionStorage.removeItem("deskbot.person");
    history.replaceState(null, "", location.pathname);
    leave();
    showPicker(null);
  });

  function showPicker(errorCode) {
    $("picker").hidden = false;
    $("chat").hidden = true;
    $("me").hidden = true;
    $("switch-person").hidden = true;
    $("status").hidden = true;
    if (state.person) {
      $("name").value = state.person.name;
      updateRoleChoices();
      $("role").value = state.person.role;
    }
    showError("picker-error", errorCode);
    $("name").focus();
  }

  function showMe() {
    $("me").textContent = state.me.name + " · " + t("role." + state.me.role);
    $("me").hidden = false;
    $("switch-person").hidden = false;
  }

  function enter(person) {
    state.person = person;
    state.retry = 0;
    connect();
  }

  function leave() {
    state.leaving = true;
    state.welcomed = false;
    state.me = null;
    if (state.ws) state.ws.close();
    state.ws = null;
  }

  // ---- connection ----------------------------------------------------------------------------

  function setStatus(key) {
    const node = $("status");
    node.dataset.state = key;
    node.textContent = t("status." + key);
    node.hidden = false;
  }

  function connect() {
    state.leaving = false;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + boot.ws_path);
    state.ws = ws;
    setStatus("connecting");
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({ type: "hello", name: state.person.name, role: state.person.role, lang: state.lang }));
    });
    ws.addEventListener("message", (event) => {
      if (ws === state.ws) handle(JSON.parse(event.data));
    });
    ws.addEventListener("close", () => {
      if (ws !== state.ws || state.leaving) return;
      failPending();
      if (!state.welcomed) {
        if (!$("picker").hidden) return;
        showPicker("not_ready");
        return;
      }
      setStatus("offline");
      const delay = Math.min(10000, 500 * 2 ** state.retry++);
      setTimeout(() => {
        if (ws === state.ws && !state.leaving) connect();
      }, delay);
    });
  }

  function send(frame) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN || !state.welcomed) return null;
    const ref = "r" + state.nextRef++;
    state.ws.send(JSON.stringify(Object.assign({ ref: ref, lang: state.lang }, frame)));
    return ref;
  }

  function failPending() {
    for (const [, pending] of state.pending) settle(pending, { type: "error", code: "not_stored" });
    state.pending.clear();
  }

  function handle(frame) {
    switch (frame.type) {
      case "welcome":
        return welcome(frame);
      case "refused":
        state.leaving = true;
        sessionStorage.removeItem("deskbot.person");
        return showPicker(frame.code);
      case "message":
      case "update":
        return store(frame.message, frame.type === "message");
      case "reaction": {
        const message = roomMessages(frame.room).get(frame.message_id);
        if (message) {
          message.reactions = frame.reactions;
          if (frame.room === state.current) renderMessages();
        }
        return;
      }
      case "ack":
      case "error": {
        const pending = state.pending.get(frame.ref);
        state.pending.delete(frame.ref);
        if (pending) return settle(pending, frame);
        if (frame.type === "error") showError("composer-error", frame.code, frame.params);
        return;
      }
    }
  }

  function welcome(frame) {
    state.welcomed = true;
    state.retry = 0;
    state.me = frame.person;
    state.bot = frame.bot;
    state.rooms = frame.rooms;
    state.messages = {};
    for (const room of frame.rooms) {
      const log = new Map();
      for (const message of frame.history[room.id] || []) log.set(message.id, message);
      state.messages[room.id] = log;
    }
    sessionStorage.setItem("deskbot.person", JSON.stringify(state.person));
    const query = new URLSearchParams({ as: state.person.name, role: state.person.role });
    history.replaceState(null, "", location.pathname + "?" + query.toString());
    const wanted = params.get("room") || sessionStorage.getItem("deskbot.room");
    if (!state.rooms.some((r) => r.id === state.current)) {
      state.current = state.rooms.some((r) => r.id === wanted) ? wanted : state.rooms[0].id;
    }
    $("picker").hidden = true;
    $("chat").hidden = false;
    setStatus("online");
    showMe();
    renderRooms();
    renderMessages();
    $("text").focus();
  }

  function roomMessages(roomId) {
    if (!state.messages[roomId]) state.messages[roomId] = new Map();
    return state.messages[roomId];
  }

  function store(message, isNew) {
    roomMessages(message.room).set(message.id, message);
    if (isNew && (message.room !== state.current || document.hidden)) {
      state.unread[message.room] = (state.unread[message.room] || 0) + 1;
      renderRooms();
    }
    if (message.room === state.current) renderMessages();
  }

  // ---- rooms -------------------------------------------------------------------------------

  function roomLabel(room) {
    if (room.kind === "direct") return "@ " + (state.bot ? state.bot.name : boot.bot_name);
    return "# " + room.id;
  }

  function renderRooms() {
    const nav = $("rooms");
    nav.replaceChildren();
    for (const room of state.rooms) {
      const b = button("room-tab", null, () => openRoom(room.id));
      b.dataset.room = room.id;
      b.setAttribute("aria-current", room.id === state.current ? "true" : "false");
      b.append(el("span", "room-name", roomLabel(room)));
      if (room.kind === "direct") b.title = t("room.direct");
      if (room.kind === "team") b.append(el("span", "tag", t("room.team")));
      const unread = state.unread[room.id];
      if (unread) b.append(el("span", "badge", String(unread)));
      nav.append(b);
    }
  }

  function openRoom(roomId) {
    state.current = roomId;
    state.unread[roomId] = 0;
    state.paletteFor = null;
    setThread(null);
    sessionStorage.setItem("deskbot.room", roomId);
    renderRooms();
    renderMessages(true);
    $("text").focus();
  }

  // ---- messages ----------------------------------------------------------------------------

  function renderMessages(toBottom) {
    const list = $("messages");
    if (!state.current) return;
    const nearBottom = toBottom || list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const all = [...roomMessages(state.current).values()];
    const replies = new Map();
    for (const m of all) {
      if (m.thread_id) {
        if (!replies.has(m.thread_id)) replies.set(m.thread_id, []);
        replies.get(m.thread_id).push(m);
      }
    }
    list.replaceChildren();
    const top = all.filter((m) => !m.thread_id);
    if (!top.length) list.append(el("p", "empty", t("room.empty")));
    for (const m of top) {
      const item = el("article", "entry");
      item.append(renderMessage(m));
      const thread = replies.get(m.id);
      if (thread) {
        const box = el("div", "thread");
        for (const r of thread) box.append(renderMessage(r));
        item.append(box);
      }
      list.append(item);
    }
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }

  function timeOf(iso) {
    const d = new Date(iso);
    // 24-hour clock in both languages, like the times on the bot's cards
    return isNaN(d) ? "" : d.toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }

  function renderMessage(m) {
    const mine = state.me && m.author.slug === state.me.slug && !m.author.bot;
    const box = el("div", "msg" + (m.author.bot ? " from-bot" : "") + (mine ? " mine" : ""));
    box.dataset.id = m.id;
    if (m.visible_to) box.classList.add("private");

    const meta = el("div", "meta");
    meta.append(el("span", "author", m.author.name));
    if (m.author.bot) meta.append(el("span", "tag", t("msg.bot")));
    meta.append(el("time", "time", timeOf(m.at)));
    if (m.updated) meta.append(el("span", "tag", t("msg.updated")));
    if (m.visible_to) meta.append(el("span", "tag", t("msg.only_you")));
    box.append(meta);

    const card = m.card;
    if (card && card.kind === "card") box.append(renderCard(m, card));
    else {
      const body = el("div", "text");
      const text = String(m.text !== null && m.text !== undefined ? m.text : (card ? card.text : ""));
      if (card && card.mention) body.append(el("span", "mention", "@" + card.mention.name + " "));
      appendWithMentions(body, text);
      box.append(body);
      if (text.length > LONG_CHARS || text.split("\n").length > LONG_LINES) {
        // a pasted log or a 10,000-character message should not push the room off the screen
        const open = state.expanded.has(m.id);
        body.classList.toggle("clamped", !open);
        box.append(button("ghost small more", t(open ? "msg.less" : "msg.more"), () => {
          if (open) state.expanded.delete(m.id);
          else state.expanded.add(m.id);
          renderMessages();
        }));
      }
    }
    if (m.note && m.note.code === "message_cut") box.append(el("div", "note", t("msg.cut", { limit: m.note.limit })));

    // a private message (a slash command, an answer only you see) is not something to react or reply to
    if (m.visible_to) return box;
    const footer = el("div", "footer");
    for (const r of m.reactions || []) {
      const chosen = state.me && r.slugs.includes(state.me.slug);
      const chip = button("reaction" + (chosen ? " chosen" : ""), r.emoji + " " + r.people.length,
        () => react(m, r.emoji), r.people.join(", "));
      footer.append(chip);
    }
    footer.append(button("ghost small", "☺+", () => {
      state.paletteFor = state.paletteFor === m.id ? null : m.id;
      renderMessages();
    }, t("msg.react")));
    footer.append(button("ghost small", t("msg.reply"), () => setThread(m)));
    box.append(footer);

    if (state.paletteFor === m.id) {
      const palette = el("div", "palette");
      for (const emoji of boot.reactions) {
        palette.append(button("emoji", emoji, () => {
          state.paletteFor = null;
          react(m, emoji);
        }, emoji === boot.ticket_emoji ? t("msg.ticket_hint") : emoji));
      }
      box.append(palette);
    }
    return box;
  }

  // Highlights @names in a person's text: still only text nodes.
  function appendWithMentions(parent, text) {
    for (const part of String(text).split(/(@[\w.\-]+)/u)) {
      if (!part) continue;
      parent.append(part.startsWith("@") ? el("span", "mention", part) : document.createTextNode(part));
    }
  }

  // The bot's body text uses **bold**, *emphasis* and `code`; drawn as elements with textContent.
  function appendInline(parent, text) {
    for (const part of String(text).split(/(\*\*[^*\n]+\*\*|\*[^*\n]+\*|`[^`\n]+`)/)) {
      if (!part) continue;
      if (part.startsWith("**") && part.endsWith("**") && part.length > 4) parent.append(el("strong", null, part.slice(2, -2)));
      else if (part.startsWith("`") && part.endsWith("`") && part.length > 2) parent.append(el("code", null, part.slice(1, -1)));
      else if (part.startsWith("*") && part.endsWith("*") && part.length > 2) parent.append(el("em", null, part.slice(1, -1)));
      else parent.append(document.createTextNode(part));
    }
  }

  function renderCard(m, card) {
    const box = el("section", "card");
    if (card.status) box.dataset.status = card.status;
    if (card.priority) box.dataset.priority = card.priority;
    if (card.mention) box.append(el("div", "mention", "@" + card.mention.name));
    if (card.title) box.append(el("h3", "card-title", card.title));
    if (card.body) {
      const body = el("p", "card-body");
      appendInline(body, card.body);
      box.append(body);
    }
    if (card.fields && card.fields.length) {
      const dl = el("dl", "fields");
      for (const f of card.fields) {
        const row = el("div", "field");
        row.append(el("dt", null, f.label), el("dd", null, f.value));
        dl.append(row);
      }
      box.append(dl);
    }
    if (card.timeline && card.timeline.length) {
      const ol = el("ol", "timeline");
      for (const item of card.timeline) {
        const li = el("li");
        li.append(el("time", null, item.at), el("span", null, item.text));
        ol.append(li);
      }
      box.append(ol);
    }
    if (card.buttons && card.buttons.length) {
      const row = el("div", "buttons");
      for (const b of card.buttons) {
        const btn = button("card-button " + b.style, b.label, () => click(m, b, row));
        btn.dataset.action = b.action_id;
        row.append(btn);
      }
      box.append(row);
      box.append(el("p", "error card-error"));
    }
    return box;
  }

  // ---- sending -----------------------------------------------------------------------------

  function click(m, b, row) {
    const ref = send({ type: "action", room: m.room, card_message_id: m.id, action_id: b.action_id, value: b.value });
    if (!ref) return showError("composer-error", "not_ready");
    for (const other of row.querySelectorAll("button")) other.disabled = true;
    row.dataset.sending = t("card.sending");
    state.pending.set(ref, { kind: "action", row: row });
  }

  function react(m, emoji) {
    const ref = send({ type: "reaction", room: m.room, message_id: m.id, emoji: emoji });
    if (!ref) return showError("composer-error", "not_ready");
    state.pending.set(ref, { kind: "reaction" });
    renderMessages();
  }

  function settle(pending, frame) {
    const failed = frame.type === "error";
    if (pending.kind === "message") {
      $("send").disabled = false;
      if (!failed) {
        $("text").value = "";
        showError("composer-error", null);
      }
    }
    if (pending.kind === "action" && pending.row.isConnected) {
      for (const b of pending.row.querySelectorAll("button")) b.disabled = false;
      delete pending.row.dataset.sending;
      const error = pending.row.nextElementSibling;
      if (error) error.textContent = failed ? t("error." + frame.code, frame.params) : "";
    }
    if (failed && pending.kind !== "action") showError("composer-error", frame.code, frame.params);
  }

  function setThread(m) {
    state.threadRoot = m ? m.thread_id || m.id : null;
    $("thread-banner").hidden = !m;
    if (m) {
      const root = roomMessages(m.room).get(state.threadRoot) || m;
      const quote = root.text || (root.card && (root.card.title || root.card.text)) || "";
      $("thread-quote").textContent = quote.length > 80 ? quote.slice(0, 80) + "…" : quote;
      $("text").focus();
    }
  }

  $("thread-cancel").addEventListener("click", () => setThread(null));

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (!text.trim()) {
      showError("composer-error", "empty_message");
      return;
    }
    const ref = send({ type: "message", room: state.current, text: text, thread_id: state.threadRoot });
    if (!ref) return showError("composer-error", "not_ready");
    $("send").disabled = true;
    state.pending.set(ref, { kind: "message" });
  });

  $("text").addEventListener("keydown", (event) => {
    // isComposing: Enter also confirms a Chinese input method candidate, which must not send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.current) {
      state.unread[state.current] = 0;
      renderRooms();
    }
  });

  // ---- start -------------------------------------------------------------------------------

  function start() {
    applyLang();
    let person = null;
    if (params.get("as")) person = { name: params.get("as"), role: params.get("role") || "employee" };
    else {
      try {
        person = JSON.parse(sessionStorage.getItem("deskbot.person") || "null");
      } catch (e) {
        person = null;
      }
    }
    if (person && person.name) enter(person);
    else showPicker(null);
  }

  start();
})();
