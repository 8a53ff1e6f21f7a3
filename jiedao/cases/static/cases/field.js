// a report that cannot be sent (no signal) waits in the phone's IndexedDB, photos included, and is
// sent once the signal is back. Each report carries its own Idempotency-Key, so a retry after a lost
// response never makes a second case.
(function () {
  var DB = "jiedao-outbox", STORE = "reports", API = "/api/v1/cases";
  var form = document.getElementById("report-form");
  var status = document.getElementById("report-status");
  var badge = document.getElementById("offline-queue");

  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "key" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode), store = t.objectStore(STORE), out = fn(store);
        t.oncomplete = function () { resolve(out && out.result !== undefined ? out.result : out); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }
  function all() { return tx("readonly", function (s) { return s.getAll(); }); }
  function put(item) { return tx("readwrite", function (s) { s.put(item); }); }
  function del(key) { return tx("readwrite", function (s) { s.delete(key); }); }

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function csrf() {
    // The cookie first: it is the current token even after the user signed in again in another tab.
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) { return decodeURIComponent(m[1]); }
    var input = document.querySelector("[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  function say(text, kind) {
    if (!status) { return; }
    status.className = "alert alert-" + (kind || "info");
    status.textContent = text;
  }
  function showQueue() {
    if (!badge) { return; }
    all().then(function (items) {
      badge.classList.toggle("d-none", !items.length);
      badge.textContent = items.length ? ("有 " + items.length + " 条上报等待发送，恢复网络后自动发送。") : "";
    });
  }

  function send(item) {
    var fd = new FormData();
    item.fields.forEach(function (kv) { fd.append(kv[0], kv[1]); });
    item.photos.forEach(function (p) { fd.append("photos", p.blob, p.name); });
    return fetch(API, { method: "POST", body: fd, credentials: "same-origin",
      headers: { "Idempotency-Key": item.key, "X-CSRFToken": csrf(), "Accept": "application/json" } });
  }

  // One flush at a time; a flush asked for while one runs (a new report, the 'online' event) runs right after it.
  var flushing = null, again = false;
  function flush() {
    if (flushing) { again = true; return flushing; }
    flushing = flushOnce().then(function () {
      flushing = null;
      if (again) { again = false; return flush(); }
    });
    return flushing;
  }
  function flushOnce() {
    return all().then(function (items) {
      return items.reduce(function (chain, item) {
        return chain.then(function () {
          return send(item).then(function (resp) {
            if (resp.ok) {
              return resp.json().then(function (c) {
                return del(item.key).then(function () { say("已上报，案件编号 " + c.number, "success"); return c; });
              });
            }
            if (resp.status === 401) {
              say("登录已过期：上报已保存在手机上，请重新登录，登录后自动发送。", "warning");
              return;
            }
            // 408, 409 (the same report is still being processed), 429: try again later.
            if (resp.status >= 400 && resp.status < 500 && [408, 409, 429].indexOf(resp.status) === -1) {
              // The server refused the content: retrying cannot help. Tell the user, drop it.
              return resp.json().catch(function () { return {}; }).then(function (err) {
                return del(item.key).then(function () { say("上报未被接受：" + (err.message || resp.status), "danger"); });
              });
            }
            say("服务器繁忙，已保存，稍后自动重发。", "warning");
          }, function () {
            say("网络不可用，已保存在手机上，恢复网络后自动发送。", "warning");
          });
        });
      }, Promise.resolve());
    }).then(function () { showQueue(); }, function () { /* IndexedDB unavailable: nothing was queued */ });
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(form);
      var desc = (data.get("description") || "").trim();
      if (!desc) { say("请描述问题。", "danger"); return; }
      var files = Array.prototype.slice.call(form.querySelector("input[type=file]").files || []);
      if (files.length > 6) { say("最多上传6张照片。", "danger"); return; }
      var fields = [];
      data.forEach(function (value, name) {
        if (name !== "photos" && name !== "csrfmiddlewaretoken" && value !== "") { fields.push([name, value]); }
      });
      var item = { key: newKey(), fields: fields, created: Date.now(),
        photos: files.map(function (f) { return { name: f.name, blob: f }; }) };
      function cleared() {
        form.reset();
        var search = form.querySelector(".js-filter-select");  // show every category again
        if (search) { search.dispatchEvent(new Event("input", { bubbles: true })); }
      }
      put(item).then(function () {
        cleared();
        return flush();
      }, function () {
        // No IndexedDB (a private window): send it now, without the offline queue.
        return send(item).then(function (resp) {
          return resp.json().catch(function () { return {}; }).then(function (c) {
            if (resp.ok) { cleared(); say("已上报，案件编号 " + c.number, "success"); }
            else { say("上报失败：" + (c.message || resp.status), "danger"); }
          });
        }, function () { say("网络不可用，且此浏览器无法离线保存，请稍后重试。", "danger"); });
      });
    });
  }
  window.addEventListener("online", flush);
  if (navigator.onLine !== false) { flush(); } else { showQueue(); }
  setInterval(function () { if (navigator.onLine !== false) { flush(); } }, 30000);
})();
