// The phone outbox, for any form marked data-outbox: the form is kept in IndexedDB (files included)
// before it is sent, sent with its own Idempotency-Key, and re-sent when the signal is back. A draft of the
// inputs is kept in localStorage while the user fills the form (data-draft), and a GPS track is recorded into
// an input.js-track while the page is open (one point at most every 10 s; kept with the draft).
//
// Fields that must be answered are marked on their container: data-required="<field name>" or "<a>|<b>" (with
// data-label="<what to say>", or data-missing="<the whole sentence>"); a file input may carry data-max-files.
// The form is not queued until they are. The form is sent to data-outbox-url, else its action (a page that
// answers JSON to Accept: application/json); data-done-text says what to show once accepted, {name} standing for
// a field of the JSON answer (say, a case's number).
//
// This is the phone's one outbox: the grid worker's case reports (cases/field_report.html, to the API) and the
// inspection forms use it. Reports queued by the earlier, report-only outbox ("jiedao-outbox") are moved in.
(function () {
  var pageOpened = new Date().toISOString();
  var DB = "jiedao-outbox-forms", STORE = "forms";
  var status = document.getElementById("outbox-status");
  var statusBase = status ? status.className.replace(/\b(alert(-\w+)?|d-none)\b/g, "").trim() : "";
  var forms = Array.prototype.slice.call(document.querySelectorAll("form[data-outbox]"));

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
    // The cookie first: it is the current token even after the user signed in again (in this or another tab).
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) { return decodeURIComponent(m[1]); }
    var input = document.querySelector("[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  // links: [[text, href], …]
  function say(text, kind, links) {
    if (!status) { return; }
    status.removeAttribute("data-problem");
    status.className = (statusBase ? statusBase + " " : "") + "alert alert-" + (kind || "info");
    status.textContent = text;
    (links || []).forEach(function (link) {
      if (!link[1]) { return; }
      var a = document.createElement("a");
      a.href = link[1];
      a.className = "alert-link ms-2";
      a.textContent = link[0];
      status.appendChild(a);
    });
  }
  function formFor(item) {
    return forms.filter(function (f) { return item.draft && f.getAttribute("data-draft") === item.draft; })[0];
  }

  // ---- drafts: the inputs (and the GPS track) survive a reload until the form is queued
  function draftSave(form) {
    var key = form.getAttribute("data-draft");
    if (!key) { return; }
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "file" || el.type === "hidden" || el.name === "csrfmiddlewaretoken") { return; }
      if (el.type === "radio" || el.type === "checkbox") { if (el.checked) { data[el.name] = el.value; } }
      else if (el.value !== "") { data[el.name] = el.value; }
    });
    var track = form.querySelector(".js-track");
    if (track && track.value) { data.__track = track.value; }
    try { localStorage.setItem(key, JSON.stringify(data)); } catch (e) { /* storage full or disabled */ }
  }
  function fill(form, values) {  // values: {name: value}; files: [{field, name, blob}]
    Object.keys(values).forEach(function (name) {
      Array.prototype.forEach.call(form.querySelectorAll("[name='" + name + "']"), function (el) {
        if (el.type === "radio" || el.type === "checkbox") { el.checked = el.value === values[name]; }
        else if (el.type !== "file" && el.type !== "hidden") {
          el.value = values[name];
          if (el.tagName === "SELECT") { el.dispatchEvent(new Event("change", { bubbles: true })); }  // shows the choice
        }
      });
    });
  }
  function fillFiles(form, files) {
    if (!files.length || typeof DataTransfer === "undefined") { return; }
    var byField = {};
    files.forEach(function (f) { (byField[f.field] = byField[f.field] || []).push(f); });
    Object.keys(byField).forEach(function (field) {
      var input = form.querySelector("input[type=file][name='" + field + "']");
      if (!input) { return; }
      try {
        var dt = new DataTransfer();
        byField[field].forEach(function (f) { dt.items.add(new File([f.blob], f.name, { type: f.blob.type })); });
        input.files = dt.files;
      } catch (e) { /* the photos have to be taken again */ }
    });
  }

  // ---- photos: what was picked is shown beside the button (object URLs; the CSP allows blob: images)
  function previews(form) {
    Array.prototype.forEach.call(form.querySelectorAll(".js-photo-previews"), function (box) {
      var input = document.getElementById(box.getAttribute("data-for"));
      Array.prototype.forEach.call(box.querySelectorAll("img"), function (img) { URL.revokeObjectURL(img.src); });
      box.textContent = "";
      var files = input && input.files ? Array.prototype.slice.call(input.files) : [];
      files.slice(0, 6).forEach(function (f) {
        var img = document.createElement("img");
        img.src = URL.createObjectURL(f);
        img.alt = f.name;
        img.className = "photo-thumb";
        box.appendChild(img);
      });
      if (files.length) {
        var n = document.createElement("span");
        n.className = "small text-secondary";
        n.textContent = "已选 " + files.length + " 张";
        box.appendChild(n);
      }
    });
  }

  // ---- sending
  function send(item) {
    var fd = new FormData();
    item.fields.forEach(function (kv) { fd.append(kv[0], kv[1]); });
    item.files.forEach(function (f) { fd.append(f.field, f.blob, f.name); });
    return fetch(item.url, { method: "POST", body: fd, credentials: "same-origin",
      headers: { "Idempotency-Key": item.key, "X-CSRFToken": csrf(), "Accept": "application/json" } });
  }
  function accepted(item, body) {
    var form = formFor(item);
    var text = (item.doneText || "已提交。").replace(/\{(\w+)\}/g, function (m, name) {
      return body[name] === undefined || body[name] === null ? "" : String(body[name]);
    });
    say(text, "success", [["查看记录", body.url], ["返回列表", form && form.getAttribute("data-done")]]);
  }
  function refused(item, err, code) {
    // The server refused the content: retrying cannot help. Give the answers back to the form they came from
    // (when it is on this page) so that they can be corrected, instead of losing them.
    var form = formFor(item), values = {};
    if (form) {
      item.fields.forEach(function (kv) { values[kv[0]] = kv[1]; });
      fill(form, values);
      fillFiles(form, item.files);
      previews(form);
      draftSave(form);
    }
    say("未被接受：" + (err.message || code) + (form ? "（已恢复填写的内容，请修改后重新提交）" : ""), "danger");
  }

  // One flush at a time; a flush asked for while one runs (a new form, the 'online' event) runs right after it.
  var flushing = null, again = false;
  function flush() {
    if (flushing) { again = true; return flushing; }
    var done = function () {
      flushing = null;
      if (again) { again = false; return flush(); }
    };
    flushing = flushOnce().then(done, done);  // never left "flushing" after a failure
    return flushing;
  }
  function flushOnce() {
    return all().then(function (items) {
      items.sort(function (a, b) { return a.created - b.created; });
      return items.reduce(function (chain, item) {
        return chain.then(function () {
          return send(item).then(function (resp) {
            var json = /application\/json/.test(resp.headers.get("Content-Type") || "");
            if (resp.ok && json) {
              return resp.json().then(function (body) {
                return del(item.key).then(function () { accepted(item, body); });
              });
            }
            if (resp.status === 401 || resp.ok || resp.status === 403 && !json) {
              // Signed out (the answer is the login page), or a stale CSRF token: keep it; it is sent after
              // signing in again.
              say("登录已过期：已保存在手机上，请重新登录，登录后自动发送。", "warning",
                  [["登录", "/accounts/login/?next=" + encodeURIComponent(location.pathname + location.search)]]);
              return;
            }
            // 408, 429: try again later; so for 409 while the same form is still being processed.
            if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
              return resp.json().catch(function () { return {}; }).then(function (err) {
                if (err.code === "request_in_progress") { say("正在处理，稍后自动重发。", "warning"); return; }
                return del(item.key).then(function () { refused(item, err, resp.status); });
              });
            }
            say("服务器繁忙，已保存，稍后自动重发。", "warning");
          }, function () { say("网络不可用，已保存在手机上，恢复网络后自动发送。", "warning"); })
            .catch(function () { /* this one waits for the next flush; the others go on */ });
        });
      }, Promise.resolve());
    }).then(function () { return showQueue(); }).catch(function () { /* IndexedDB unavailable: nothing was queued */ });
  }
  function showQueue() {
    var badge = document.querySelector("[data-outbox-queue]");
    if (!badge) { return; }
    return all().then(function (items) {
      badge.classList.toggle("d-none", !items.length);
      badge.textContent = items.length ? "有 " + items.length + " 份记录等待发送，恢复网络后自动发送。" : "";
    });
  }

  // ---- what must be answered before the form is queued
  function answered(form, name) {
    return Array.prototype.some.call(form.querySelectorAll("[name='" + name + "']"), function (el) {
      if (el.type === "radio" || el.type === "checkbox") { return el.checked; }
      if (el.type === "file") { return el.files && el.files.length > 0; }
      return String(el.value).trim() !== "";
    });
  }
  function firstProblem(form) {
    var boxes = Array.prototype.slice.call(form.querySelectorAll("[data-required], [data-label]"));
    boxes.forEach(function (box) { box.classList.remove("is-missing"); });
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i], label = box.getAttribute("data-label") || "";
      var name = box.getAttribute("data-required");  // "a|b": either will do
      if (name && !name.split("|").some(function (n) { return answered(form, n); })) { return { box: box, text: box.getAttribute("data-missing") || "请回答：" + label }; }
      var tooMany = Array.prototype.filter.call(box.querySelectorAll("input[type=file][data-max-files]"), function (el) {
        return el.files && el.files.length > Number(el.getAttribute("data-max-files"));
      })[0];
      if (tooMany) { return { box: box, text: "最多上传" + tooMany.getAttribute("data-max-files") + "张照片。" }; }
      var bad = Array.prototype.filter.call(box.querySelectorAll("input, select, textarea"), function (el) {
        var v = el.validity;
        return v && (v.badInput || v.rangeOverflow || v.rangeUnderflow);
      })[0];
      if (bad) { return { box: box, text: "回答不正确：" + label + (bad.max ? "（0–" + bad.max + "）" : "") }; }
    }
    return null;
  }

  forms.forEach(function (form) {
    var draftKey = form.getAttribute("data-draft");
    var track = form.querySelector(".js-track"), trackStatus = document.querySelector(".js-track-status");
    var points = [];
    function showTrack() {
      track.value = points.join(";");
      if (trackStatus) { trackStatus.textContent = "定位轨迹：" + points.length + " 个点"; }
    }
    if (draftKey) {
      try {
        var saved = JSON.parse(localStorage.getItem(draftKey) || "{}");
        if (track && saved.__track) { points = saved.__track.split(";").slice(-5000); showTrack(); }
        delete saved.__track;
        fill(form, saved);
        if (Object.keys(saved).length) { say("已恢复上次未提交的填写内容。", "info"); }
      } catch (e) { /* a broken draft is ignored */ }
      form.addEventListener("input", function () { draftSave(form); });
      form.addEventListener("change", function () { draftSave(form); });
    }
    form.addEventListener("change", function (event) {
      if (event.target.type === "file") { previews(form); }
    });
    form.addEventListener("reset", function () { setTimeout(function () { previews(form); }, 0); });
    // Answering the item that was missing clears the complaint.
    function answeredNow(event) {
      var box = event.target.closest && event.target.closest(".is-missing");
      if (!box) { return; }
      box.classList.remove("is-missing");
      if (status && status.hasAttribute("data-problem")) {
        status.removeAttribute("data-problem");
        status.textContent = "";
        status.className = statusBase;
      }
    }
    form.addEventListener("input", answeredNow);
    form.addEventListener("change", answeredNow);
    if (track && navigator.geolocation) {
      var last = points.length ? Date.parse(points[points.length - 1].split(",")[2]) || 0 : 0;
      navigator.geolocation.watchPosition(function (p) {
        if (Date.now() - last < 10000 || points.length >= 5000) { return; }
        last = Date.now();
        points.push(p.coords.latitude.toFixed(6) + "," + p.coords.longitude.toFixed(6) + "," + new Date().toISOString());
        showTrack();
        if (draftKey) { draftSave(form); }
      }, function () { if (trackStatus && !points.length) { trackStatus.textContent = "定位轨迹：无法定位"; } },
      { enableHighAccuracy: true, maximumAge: 10000 });
    }
    var button = form.querySelector("[type=submit]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var problem = firstProblem(form);
      if (problem) {
        problem.box.classList.add("is-missing");
        problem.box.scrollIntoView({ block: "center" });
        var control = problem.box.querySelector("input:not([type=hidden]):not([type=file]), select, textarea");
        if (control) { control.focus({ preventScroll: true }); }
        say(problem.text, "danger");
        if (status) { status.setAttribute("data-problem", "1"); }
        return;
      }
      // The phone's own times: a patrol saved offline and sent later still counts when it was done.
      var started = form.querySelector("input[name=started_at]"), finished = form.querySelector("input[name=finished_at]");
      if (started && !started.value) { started.value = pageOpened; }
      if (finished) { finished.value = new Date().toISOString(); }
      var fields = [], files = [];
      new FormData(form).forEach(function (value, name) {
        if (name === "csrfmiddlewaretoken") { return; }
        if (value instanceof File) { if (value.size) { files.push({ field: name, name: value.name, blob: value }); } }
        else { fields.push([name, value]); }
      });
      var item = { key: newKey(), fields: fields, files: files, created: Date.now(), draft: draftKey || "",
        url: form.getAttribute("data-outbox-url") || form.getAttribute("action") || window.location.pathname,
        doneText: form.getAttribute("data-done-text") || "" };
      if (button) { button.disabled = true; }  // a second tap must not queue it twice
      function cleared() {
        if (draftKey) { localStorage.removeItem(draftKey); }
        form.reset();
        if (track) { track.value = points.join(";"); }  // the walk goes on
        Array.prototype.forEach.call(form.querySelectorAll(".js-filter-select"), function (search) {
          search.dispatchEvent(new Event("input", { bubbles: true }));  // every choice shows again
        });
      }
      put(item).then(function () {
        cleared();
        return flush();
      }, function () {
        // No IndexedDB (a private window): send it now, without the offline queue.
        return send(item).then(function (resp) {
          return resp.json().catch(function () { return {}; }).then(function (body) {
            if (resp.ok) { cleared(); accepted(item, body); } else { say("未被接受：" + (body.message || resp.status), "danger"); }
          });
        }, function () { say("网络不可用，且此浏览器无法离线保存，请稍后重试。", "danger"); });
      }).then(function () { if (button) { button.disabled = false; } });
    });
  });
  // Reports left in the earlier, report-only outbox move into this one; then its database is deleted. A phone
  // that never had it opens nothing new: the upgrade that would create it is aborted.
  function adopt() {
    if (!window.indexedDB) { return Promise.resolve(); }
    return new Promise(function (resolve) {
      var req = indexedDB.open("jiedao-outbox", 1);
      req.onupgradeneeded = function () { req.transaction.abort(); };
      req.onerror = function (event) { if (event.preventDefault) { event.preventDefault(); } resolve(); };
      req.onsuccess = function () {
        var old = req.result, t = old.transaction("reports", "readonly"), got = t.objectStore("reports").getAll();
        t.oncomplete = function () {
          Promise.all((got.result || []).map(function (r) {
            return put({ key: r.key, fields: r.fields, created: r.created || Date.now(), draft: "",
              url: "/api/v1/cases", doneText: "已上报，案件编号 {number}",
              files: (r.photos || []).map(function (p) { return { field: "photos", name: p.name, blob: p.blob }; }) });
          })).then(function () {
            old.close();
            indexedDB.deleteDatabase("jiedao-outbox");  // every report is in the one outbox now
            resolve();
          }, function () { old.close(); resolve(); });  // kept for the next page load
        };
        t.onerror = function () { old.close(); resolve(); };
      };
    });
  }

  window.addEventListener("online", flush);
  adopt().then(function () { if (navigator.onLine !== false) { flush(); } else { showQueue(); } });
  setInterval(function () { if (navigator.onLine !== false) { flush(); } }, 30000);
})();
