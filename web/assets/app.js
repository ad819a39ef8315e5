// Tebura web view: the live log of a run page. Plain JavaScript, no
// dependencies, loaded from this server only (the CSP allows nothing else).
"use strict";
(function () {
  var log = document.getElementById("log");
  if (!log || !log.dataset.events) return;
  var follow = document.getElementById("follow");
  var state = document.getElementById("state");

  // Following stops when the reader scrolls up, and resumes when they
  // scroll back to the bottom (or tick "follow").
  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }
  var programmatic = false;
  log.addEventListener("scroll", function () {
    if (programmatic) { programmatic = false; return; }
    if (follow) follow.checked = atBottom();
  });
  if (follow) follow.addEventListener("change", function () {
    if (follow.checked) { programmatic = true; log.scrollTop = log.scrollHeight; }
  });

  var es = new EventSource(log.dataset.events);
  es.addEventListener("lines", function (ev) {
    var keep = follow ? follow.checked : atBottom();
    var lines = ev.data.split("\n");
    var frag = document.createElement("div");
    // The server escaped the text and drew colours as spans of its own.
    frag.innerHTML = lines.map(function (l) { return "<div class=\"ln\">" + (l === "" ? " " : l) + "</div>"; }).join("");
    while (frag.firstChild) log.appendChild(frag.firstChild);
    log.dataset.lines = String(log.childElementCount);
    if (keep) { programmatic = true; log.scrollTop = log.scrollHeight; }
  });
  es.addEventListener("end", function (ev) {
    es.close();
    var d = JSON.parse(ev.data);
    if (state) {
      state.textContent = d.label;
      state.className = "badge " + d["class"];
    }
    log.dataset.ended = d.state;
  });
})();
