// Small behaviours without inline scripts (the CSP forbids them).
document.addEventListener("change", function (event) {
  var el = event.target;
  if (el.classList && el.classList.contains("js-autosubmit") && el.form) { el.form.submit(); }
});
document.addEventListener("click", function (event) {
  var el = event.target.closest ? event.target.closest("[data-confirm]") : null;
  if (el && !window.confirm(el.getAttribute("data-confirm"))) { event.preventDefault(); }
});
