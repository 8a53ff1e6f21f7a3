// The phone outbox, for any form marked data-outbox: the form is kept in IndexedDB (files included)
// before it is sent, sent with its own Idempotency-Key, and re-sent when the signal is back. A draft of the
// inputs is kept in localStorage while the user fills the form (data-draft), and a GPS track is recorded into
// an input.js-track while the page is open.
(function () {
  var DB = "jiedao-outbox-forms", STORE = "forms";
  var status = document.getElementById("outbox-status");

  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "key" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function run(mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode), req = fn(t.objectStore(STORE));
        t.oncomplete = function () { resolve(req && req.result); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }
  var all = function () { return run("readonly", function (s) { return s.getAll(); }); };
  var put = function (item) { return run("readwrite", function (s) { return s.put(item); }); };
  var del = function (key) { return run("readwrite", function (s) { return s.delete(key); }); };

  function newKey() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function csrf() {
    var input = document.querySelector("[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  function say(text, kind, href) {
    if (!status) { return; }
    status.className = "alert alert-" + (kind || "info");
    status.textContent = text;
    if (href) { var a = document.createElement("a"); a.href = href; a.textContent = " 查看"; status.appendChild(a); }
  }

  function send(item) {
    var fd = new FormData();
    item.fields.forEach(function (kv) { fd.append(kv[0], kv[1]); });
    item.files.forEach(function (f) { fd.append(f.field, f.blob, f.name); });
    return fetch(item.url, { method: "POST", body: fd, credentials: "same-origin",
      headers: { "Idempotency-Key": item.key, "X-CSRFToken": csrf(), "Accept": "application/json" } });
  }
  var flushing = false;
  function flush() {
    if (flushing) { return Promise.resolve(); }
    flushing = true;
    return all().then(function (items) {
      return items.reduce(function (chain, item) {
        return chain.then(function () {
          return send(item).then(function (resp) {
            if (resp.ok) {
              return resp.json().then(function (body) {
                return del(item.key).then(function () { say("已提交。", "success", body.url); });
              });
            }
            if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
              return resp.json().catch(function () { return {}; }).then(function (err) {
                return del(item.key).then(function () { say("未被接受：" + (err.message || resp.status), "danger"); });
              });
            }
            say("服务器繁忙，已保存，稍后自动重发。", "warning");
          }, function () { say("网络不可用，已保存在手机上，恢复网络后自动发送。", "warning"); });
        });
      }, Promise.resolve());
    }).then(function () { flushing = false; }, function () { flushing = false; });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-outbox]"), function (form) {
    var draftKey = form.getAttribute("data-draft");
    if (draftKey) {
      try {
        var saved = JSON.parse(localStorage.getItem(draftKey) || "{}");
        Object.keys(saved).forEach(function (name) {
          var els = form.querySelectorAll("[name='" + name + "']");
          Array.prototype.forEach.call(els, function (el) {
            if (el.type === "radio") { el.checked = el.value === saved[name]; } else if (el.type !== "file") { el.value = saved[name]; }
          });
        });
      } catch (e) { /* a broken draft is ignored */ }
      form.addEventListener("input", function () {
        var data = {};
        Array.prototype.forEach.call(form.elements, function (el) {
          if (!el.name || el.type === "file" || el.type === "hidden" || el.name === "csrfmiddlewaretoken") { return; }
          if (el.type === "radio") { if (el.checked) { data[el.name] = el.value; } } else { data[el.name] = el.value; }
        });
        localStorage.setItem(draftKey, JSON.stringify(data));
      });
    }
    var track = form.querySelector(".js-track"), trackStatus = document.querySelector(".js-track-status");
    if (track && navigator.geolocation) {
      var last = 0, points = [];
      navigator.geolocation.watchPosition(function (p) {
        if (Date.now() - last < 10000 || points.length >= 5000) { return; }
        last = Date.now();
        points.push(p.coords.latitude.toFixed(6) + "," + p.coords.longitude.toFixed(6) + "," + new Date().toISOString());
        track.value = points.join(";");
        if (trackStatus) { trackStatus.textContent = "定位轨迹：" + points.length + " 个点"; }
      }, function () { if (trackStatus) { trackStatus.textContent = "定位轨迹：无法定位"; } }, { enableHighAccuracy: true });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var fields = [], files = [];
      new FormData(form).forEach(function (value, name) {
        if (name === "csrfmiddlewaretoken") { return; }
        if (value instanceof File) { if (value.size) { files.push({ field: name, name: value.name, blob: value }); } }
        else { fields.push([name, value]); }
      });
      var item = { key: newKey(), url: form.getAttribute("action") || window.location.pathname, fields: fields,
        files: files, created: Date.now() };
      put(item).then(function () {
        if (draftKey) { localStorage.removeItem(draftKey); }
        form.reset();
        return flush();
      });
    });
  });
  window.addEventListener("online", flush);
  if (navigator.onLine !== false) { flush(); }
  setInterval(function () { if (navigator.onLine !== false) { flush(); } }, 30000);
})();
