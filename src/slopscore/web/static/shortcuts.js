// Single-key shortcuts for moderators. Pressing a key clicks the element whose data-key
// names it (a decision button, a link); on the queue page j/k move between rows. Nothing
// fires while typing in a text field or with Ctrl, Alt or Meta held. The pages work
// without this file; it only saves clicks. Listed on each page and in the README.
(function () {
  "use strict";
  var sent = false;

  function typing(target) {
    return !!(target && target.closest &&
      target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])"));
  }

  function moveRow(step) {
    var links = Array.prototype.slice.call(document.querySelectorAll("tr.queue-row a.item-link"));
    if (!links.length) return false;
    var at = links.indexOf(document.activeElement);
    var next = at < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    links[next].focus();
    links[next].closest("tr").scrollIntoView({block: "nearest"});
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (sent || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (typing(event.target)) return;
    var target = document.querySelector('[data-key="' + CSS.escape(event.key) + '"]');
    if (target) {
      event.preventDefault();
      if (target.type === "submit") sent = true;  // one decision per page, however often a key repeats
      target.click();
      return;
    }
    if ((event.key === "j" || event.key === "k") && moveRow(event.key === "j" ? 1 : -1)) event.preventDefault();
  });
})();
