// Staff console: keeps the open case's transcript current by polling a small JSON endpoint.
// No framework, no inline script (the Content-Security-Policy forbids it); text is added with
// textContent, never as HTML.
(function () {
  "use strict";
  // The queue: say when a case newer than the ones shown is waiting.
  var news = document.getElementById("queue-news");
  if (news) {
    var newest = parseInt(news.getAttribute("data-newest") || "0", 10);
    window.setInterval(function () {
      if (document.hidden) { return; }
      var request = new XMLHttpRequest();
      request.open("GET", news.getAttribute("data-url"));
      request.onload = function () {
        if (request.status !== 200) { return; }
        try {
          if (JSON.parse(request.responseText).newest > newest) { news.hidden = false; }
        } catch (e) { /* ignore a bad answer; the next poll tries again */ }
      };
      request.send();
    }, 10000);
  }
}());

(function () {
  "use strict";
  var list = document.getElementById("transcript");
  if (!list) { return; }
  var url = list.getAttribute("data-url");
  var after = parseInt(list.getAttribute("data-after") || "0", 10);
  var status = list.getAttribute("data-status");
  var intervalMs = 3000;

  function label(direction) {
    return list.getAttribute("data-label-" + direction) || direction;
  }

  function add(message) {
    if (list.querySelector('[data-id="' + message.id + '"]')) { return; }
    var item = document.createElement("li");
    item.className = "message " + message.direction;
    item.setAttribute("data-id", String(message.id));
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = label(message.direction) + (message.author ? " · " + message.author : "");
    var when = document.createElement("span");
    when.className = "when";
    when.textContent = message.at;
    var text = document.createElement("p");
    text.className = "text";
    text.textContent = message.text;
    item.appendChild(who);
    item.appendChild(when);
    item.appendChild(text);
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
    var empty = document.getElementById("transcript-empty");
    if (empty) { empty.hidden = true; }
  }

  function poll() {
    var request = new XMLHttpRequest();
    request.open("GET", url + "?after=" + after);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      if (request.status === 401) { window.location.reload(); return; }
      if (request.status !== 200) { return; }
      var data;
      try { data = JSON.parse(request.responseText); } catch (e) { return; }
      (data.messages || []).forEach(function (message) {
        add(message);
        if (message.id > after) { after = message.id; }
      });
      if (data.status && data.status !== status) {
        var changed = document.getElementById("case-changed");
        if (changed) { changed.hidden = false; }
      }
    };
    request.send();
  }

  list.scrollTop = list.scrollHeight;
  window.setInterval(function () {
    if (!document.hidden) { poll(); }
  }, intervalMs);
}());
