// Small behaviours without inline scripts (the CSP forbids them).
document.addEventListener("change", function (event) {
  var el = event.target;
  if (el.classList && el.classList.contains("js-autosubmit") && el.form) { el.form.submit(); }
});
document.addEventListener("click", function (event) {
  var el = event.target.closest ? event.target.closest("[data-confirm]") : null;
  if (el && !window.confirm(el.getAttribute("data-confirm"))) { event.preventDefault(); }
});
// htmx does not swap 4xx answers. Inside [data-swap-errors], show the server's error fragment instead; when the
// answer is a whole error page (404/403 from the middleware), show just its message.
document.addEventListener("htmx:beforeSwap", function (event) {
  var d = event.detail, xhr = d.xhr;
  if (!xhr || xhr.status < 400 || xhr.status >= 500) { return; }
  var elt = (d.requestConfig && d.requestConfig.elt) || d.elt;
  if (!elt || !elt.closest || !elt.closest("[data-swap-errors]")) { return; }
  var text = xhr.responseText || "";
  if (/<html[\s>]/i.test(text)) {
    var page = new DOMParser().parseFromString(text, "text/html");
    var found = page.querySelector("[data-testid=error-message]");
    var box = document.createElement("div");
    box.className = "alert alert-danger mb-0";
    box.setAttribute("role", "alert");
    box.textContent = (found && found.textContent.trim()) || ("请求失败（" + xhr.status + "）。");
    d.target.replaceChildren(box);
    d.shouldSwap = false;
    d.isError = false;  // handled here
    return;
  }
  d.shouldSwap = true;
  d.isError = false;
});

// The chosen option of a listbox in full, under it: a phone's narrow list cuts long category names off.
function showChosen(select) {
  var line = document.querySelector('.js-select-chosen[data-for="' + select.id + '"]');
  if (!line) { return; }
  var opt = select.selectedIndex >= 0 ? select.options[select.selectedIndex] : null;
  line.textContent = opt && opt.value ? line.getAttribute("data-prefix") + opt.text : "";
}
document.addEventListener("change", function (event) {
  if (event.target.tagName === "SELECT" && event.target.id) { showChosen(event.target); }
});

// A search box that filters the options of a long <select> (the category pickers).
document.addEventListener("input", function (event) {
  var box = event.target;
  if (!box.classList || !box.classList.contains("js-filter-select")) { return; }
  var select = document.getElementById(box.getAttribute("data-target"));
  if (!select) { return; }
  var words = box.value.trim().toLowerCase();
  var first = null;
  var shown = 0;
  Array.prototype.forEach.call(select.options, function (opt) {
    var show = !words || opt.text.toLowerCase().indexOf(words) !== -1;
    opt.hidden = !show;
    if (show) { shown++; }
    if (show && !first && opt.value) { first = opt; }
  });
  // Only a search picks its first match; an emptied box (or a restored form) never picks one by itself: a report
  // once went out with the first category of the list, which nobody had chosen.
  if (words && first && (select.selectedIndex < 0 || select.options[select.selectedIndex].hidden)) { first.selected = true; }
  showChosen(select);
  var note = box.parentNode.querySelector(".js-filter-empty");
  if (!note) {
    note = document.createElement("div");
    note.className = "js-filter-empty small text-danger d-none";
    note.setAttribute("role", "status");
    box.insertAdjacentElement("afterend", note);
  }
  note.textContent = "没有匹配“" + box.value.trim() + "”的类别，请换个词，例如 垃圾、井盖、路灯。";
  note.classList.toggle("d-none", !(words && shown === 0));
});

// Check-all boxes of a table.
document.addEventListener("change", function (event) {
  var el = event.target;
  if (!el.classList || !el.classList.contains("js-check-all")) { return; }
  var table = el.closest("table");
  Array.prototype.forEach.call(table.querySelectorAll("tbody input[type=checkbox]"), function (box) { box.checked = el.checked; });
});
