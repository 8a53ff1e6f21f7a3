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
