// Location for a report: the phone's GPS (WGS-84), or a tap on the map. Fills #f-lat / #f-lng.
// The map is drawn only where the places layers may be read (signed-in staff); the residents' page has the
// GPS button and the address field only.
(function () {
  var lat = document.getElementById("f-lat"), lng = document.getElementById("f-lng");
  if (!lat || !lng) { return; }
  var el = document.getElementById("pick-map");
  var status = document.querySelector(".js-locate-status");
  var map = null, marker = null;
  function say(text) { if (status) { status.textContent = text; } }
  function place(la, ln, text) {
    lat.value = la.toFixed(6); lng.value = ln.toFixed(6);
    if (map) {
      if (marker) { marker.setLatLng([la, ln]); } else { marker = L.circleMarker([la, ln], { radius: 8, color: "#d63939" }).addTo(map); }
    }
    say(text + "：" + la.toFixed(5) + ", " + ln.toFixed(5));
    if (map) { describe(la, ln, text); }
  }
  // Signed-in staff: say where that is in words (grid and nearest address) once the server answers; offline the
  // coordinates stay, and the report still goes.
  var asked = 0;
  function describe(la, ln, text) {
    var mine = ++asked;
    fetch("/api/v1/places/locate?lat=" + la + "&lng=" + ln, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (d) {
      if (!d || mine !== asked) { return; }
      var words = [d.grid_name, d.address].filter(function (x) { return x; }).join(" · ");
      if (words) { say(text + "：" + words); } else if (!d.grid_id) { say(text + "：不在本街道的网格内，请确认位置"); }
    }).catch(function () { /* offline */ });
  }
  if (el && window.L) {
    map = L.map(el, { zoomControl: true, maxZoom: 19 }).setView([31.332, 121.507], 14);
    var tileUrl = el.getAttribute("data-tile-url");
    if (tileUrl) { L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map); }
    var url = el.getAttribute("data-layers-url");
    var loaded = function () { el.setAttribute("data-loaded", "1"); };
    if (url) {
      fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { return null; }
        return r.json();
      }).then(function (d) {
        if (d) {
          var g = L.geoJSON(d.grids, { style: { color: "#206bc4", weight: 1, fillOpacity: 0.15 } }).addTo(map);
          L.geoJSON(d.roads, { style: { color: "#868e96", weight: 2 } }).addTo(map);
          if (g.getBounds().isValid()) { map.fitBounds(g.getBounds()); }
        }
        loaded();
      }).catch(loaded);  // offline: the map stays empty, GPS still works
    } else {
      loaded();
    }
    map.on("click", function (e) { place(e.latlng.lat, e.latlng.lng, "已选位置"); });
  }
  if (lat.value && lng.value) { place(parseFloat(lat.value), parseFloat(lng.value), "已选位置"); }
  var btn = document.querySelector(".js-locate");
  if (btn) {
    btn.addEventListener("click", function () {
      if (!navigator.geolocation) { say("此设备不支持定位，请" + (map ? "在地图上点选" : "填写地址")); return; }
      say("正在定位…");
      navigator.geolocation.getCurrentPosition(function (p) {
        place(p.coords.latitude, p.coords.longitude, "当前位置");
        if (map) { map.setView([p.coords.latitude, p.coords.longitude], 17); }
      }, function () { say("定位失败，请" + (map ? "在地图上点选" : "填写地址")); },
      { enableHighAccuracy: true, timeout: 10000 });
    });
  }
})();
