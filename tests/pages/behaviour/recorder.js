(function () {
  // A self-hosted session recorder: every change to the page, every key, every movement.
  var events = [];
  new MutationObserver(function (m) { events.push(["dom", m.length]); })
    .observe(document, {childList: true, subtree: true, attributes: true, characterData: true});
  document.addEventListener("mousemove", function (e) { events.push(["move", e.clientX, e.clientY]); }, true);
  document.addEventListener("keydown", function (e) { events.push(["key", e.key]); }, true);
})();
