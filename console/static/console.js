// Replydesk console: keyboard shortcuts, the live character count, and new drafts appearing in the queue.
// Progressive enhancement only: every action is a plain form post without this file.
(function () {
  "use strict";
  var page = document.body.getAttribute("data-page");
  var help = document.getElementById("help");

  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  function showHelp() { if (help && !help.open) { help.showModal(); } }
  document.querySelectorAll(".help-open").forEach(function (b) { b.addEventListener("click", showHelp); });

  // Live character count against the platform's limit.
  var editor = document.getElementById("reply-text");
  if (editor) {
    var out = document.querySelector("#char-count output");
    var limit = parseInt(editor.getAttribute("data-limit"), 10) || 0;
    var count = function () {
      var n = Array.from(editor.value).length;  // code points, as platforms count them
      out.textContent = String(n);
      document.getElementById("char-count").classList.toggle("over", limit > 0 && n > limit);
    };
    editor.addEventListener("input", count);
    count();
  }

  // Queue: j/k select a row, Enter/o open, x tick it for a bulk decision.
  var rows = function () { return Array.from(document.querySelectorAll("#queue-rows tr.row")); };
  var current = -1;
  function select(i) {
    var list = rows();
    if (!list.length) { return; }
    current = Math.max(0, Math.min(list.length - 1, i));
    list.forEach(function (r) { r.classList.remove("selected"); });
    var row = list[current];
    row.classList.add("selected");
    var link = row.querySelector("a.open");
    if (link) { link.focus(); }
  }
  function selectedRow() { var list = rows(); return current >= 0 ? list[current] : null; }

  function submit(form) { if (form) { if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); } } }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) { return; }
    var key = event.key;
    if (key === "?") { event.preventDefault(); showHelp(); return; }
    if (page === "queue") {
      if (key === "j") { event.preventDefault(); select(current + 1); }
      else if (key === "k") { event.preventDefault(); select(current - 1); }
      else if (key === "o" || (key === "Enter" && selectedRow() && event.target.tagName !== "A")) {
        var row = selectedRow(); if (row) { event.preventDefault(); row.querySelector("a.open").click(); }
      } else if (key === "x") {
        var r = selectedRow(); var box = r && r.querySelector("input[type=checkbox]");
        if (box && !box.disabled) { event.preventDefault(); box.checked = !box.checked; }
      }
    } else if (page === "draft") {
      if (key === "e" && editor) { event.preventDefault(); editor.focus(); }
      else if (key === "a") { var f = document.getElementById("reply-form"); if (f) { event.preventDefault(); submit(f); } }
      else if (key === "r") { var c = document.getElementById("reject-category"); if (c) { event.preventDefault(); c.focus(); } }
      else if (key === "g") { var g = document.getElementById("instructions"); if (g) { event.preventDefault(); g.focus(); } }
      else if (key === "c") { var cf = document.getElementById("claim-form"); if (cf) { event.preventDefault(); submit(cf); } }
      else if (key === "j" || key === "k") {
        var step = document.getElementById(key === "j" ? "next-draft" : "prev-draft");
        event.preventDefault();
        window.location.href = step ? step.getAttribute("href") : "/";
      }
    }
  });

  // Draft: say when someone else moved the draft on (an edit, a decision, a claim), keeping the CM's text.
  var moved = document.getElementById("moved-on");
  if (moved) {
    var loaded = parseInt(moved.getAttribute("data-version"), 10) || 0;
    var me = moved.getAttribute("data-me");
    var check = function () {
      fetch(moved.getAttribute("data-state"), { credentials: "same-origin" }).then(function (res) {
        return res.ok && !res.redirected ? res.json() : null;
      }).then(function (state) {
        if (!state || state.version === loaded) { return; }
        var who = state.by && state.by !== me ? state.by : "someone";
        var text = state.status !== "pending"
          ? "This draft was " + state.status + " by " + who + " (version " + state.version + ")."
          : (state.assignee && state.assignee !== me ? state.assignee + " is on this draft now (version " + state.version + ")."
            : "This draft changed (version " + state.version + ", by " + who + ").");
        moved.textContent = text + " Your text is kept: if you send it, the page shows what changed first.";
        moved.hidden = false;
      }).catch(function () { /* offline: try again on the next tick */ });
    };
    window.setInterval(check, 5000);
  }

  // Queue: poll for new drafts and add them on top, keeping the CM's place (scroll and selection).
  var live = document.getElementById("live-status");
  if (live && live.getAttribute("data-live") === "on") {
    var newest = parseInt(live.getAttribute("data-newest"), 10) || 0;
    var query = live.getAttribute("data-live-query");
    var body = document.getElementById("queue-rows");
    var poll = function () {
      var url = "/queue/new?" + (query ? query + "&" : "") + "since=" + newest;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (res) {
        if (res.redirected || !res.ok) { return null; }
        return res.text();
      }).then(function (html) {
        if (!html || !html.trim()) { return; }
        var holder = document.createElement("tbody");
        holder.innerHTML = html;
        var added = Array.from(holder.querySelectorAll("tr.row")).filter(function (r) {
          return !body.querySelector('tr.row[data-id="' + r.getAttribute("data-id") + '"]');
        });
        if (!added.length) { return; }
        var before = body.getBoundingClientRect().height;
        added.reverse().forEach(function (r) { r.classList.add("new"); body.insertBefore(r, body.firstChild); });
        if (current >= 0) { current += added.length; }
        var grown = body.getBoundingClientRect().height - before;
        if (window.scrollY > 0 && grown > 0) { window.scrollBy(0, grown); }
        added.forEach(function (r) { newest = Math.max(newest, parseInt(r.getAttribute("data-id"), 10) || 0); });
        live.textContent = added.length + " new draft" + (added.length === 1 ? "" : "s") + " added at the top.";
      }).catch(function () { /* offline: try again on the next tick */ });
    };
    window.setInterval(poll, 4000);
  }
})();
