/*
 * Retorno web chat (channels/webchat). Every word the page shows comes from the server, in
 * the data-* attributes of <main id="chat"> (content/webchat.yml) or in the assistant's
 * messages: nothing user-facing is written here. Messages are shown with textContent only,
 * never as HTML.
 *
 * The conversation id is a random value kept in localStorage (in memory when storage is
 * blocked); the server never stores it, only a keyed hash of it.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "retorno.webchat.sender";
  var ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

  var chat = document.getElementById("chat");
  var words = chat.dataset;
  var log = document.getElementById("log");
  var statusLine = document.getElementById("status");
  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var sendButton = document.getElementById("send");
  var memoryId = null;
  var busy = false;

  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function senderId() {
    try {
      var stored = window.localStorage.getItem(STORAGE_KEY);
      if (stored && ID_PATTERN.test(stored)) {
        return stored;
      }
      var created = newId();
      window.localStorage.setItem(STORAGE_KEY, created);
      return created;
    } catch (error) {
      memoryId = memoryId || newId();
      return memoryId;
    }
  }

  function setStatus(text, isError) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("error", Boolean(isError));
  }

  function setBusy(value) {
    busy = value;
    chat.setAttribute("aria-busy", value ? "true" : "false");
    sendButton.setAttribute("aria-disabled", value ? "true" : "false");
    setStatus(value ? words.waiting : "");
  }

  function bubble(who, text) {
    var item = document.createElement("div");
    item.className = "msg " + who;
    var speaker = document.createElement("span");
    speaker.className = "visually-hidden";
    speaker.textContent = (who === "user" ? words.you : words.assistant) + ": ";
    var body = document.createElement("p");
    body.textContent = text;
    item.appendChild(speaker);
    item.appendChild(body);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function addButtons(item, buttons) {
    var group = document.createElement("div");
    group.className = "options";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", words.options);
    buttons.forEach(function (button) {
      var element = document.createElement("button");
      element.type = "button";
      element.className = "option";
      element.textContent = button.title;
      element.addEventListener("click", function () {
        say(button.payload, button.title);
      });
      group.appendChild(element);
    });
    item.appendChild(group);
  }

  /* Shows the assistant's messages and scrolls to the start of the first one, so a long
     answer is read from its beginning. */
  function show(messages) {
    var first = null;
    (Array.isArray(messages) ? messages : []).forEach(function (message) {
      var item = bubble("bot", message.text || "");
      if (Array.isArray(message.buttons) && message.buttons.length) {
        addButtons(item, message.buttons);
      }
      first = first || item;
    });
    if (first) {
      first.scrollIntoView({ block: "start" });
    }
  }

  /* Sends `text`; `shown` is what the person sees as their own message (nothing for the
     automatic greeting); `extra` adds fields (ref, lang) to the request. */
  function say(text, shown, extra) {
    if (busy) {
      return false;
    }
    if (shown) {
      bubble("user", shown);
    }
    setBusy(true);
    var body = { sender: senderId(), message: text };
    Object.keys(extra || {}).forEach(function (key) {
      body[key] = extra[key];
    });
    fetch("message", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (reply) {
      if (!reply.ok) {
        throw new Error("HTTP " + reply.status);
      }
      return reply.json();
    }).then(function (messages) {
      setBusy(false);
      show(messages);
    }).catch(function () {
      setBusy(false);
      setStatus(words.error, true);
    });
    return true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) {
      input.focus();
      return;
    }
    if (say(text, text)) {
      input.value = "";
    }
    input.focus();
  });

  /* Replies from a staff member who took the conversation arrive without a message from
     the person: ask for them every few seconds (channels/webchat: /updates), from the
     server's time when it made the page (the phone's clock may be off). */
  var since = Number(words.now) || Date.now() / 1000;
  function poll() {
    if (busy || document.hidden) {
      return;
    }
    fetch("updates", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: senderId(), after: since }),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (reply) {
      return reply.ok ? reply.json() : null;
    }).then(function (found) {
      if (found && typeof found.after === "number") {
        since = Math.max(since, found.after);
        show(found.messages);
      }
    }).catch(function () { /* the next poll tries again */ });
  }
  window.setInterval(poll, 5000);

  /* The first message starts the conversation in the page's language; a consulate's link
     sends its campaign code with it. */
  var first = { lang: words.lang };
  if (words.campaign) {
    first.ref = words.campaign;
  }
  say(words.greeting, null, first);
})();
