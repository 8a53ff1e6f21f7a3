// Location for a report: the phone's GPS (WGS-84), or a tap on the map. Fills #f-lat / #f-lng.
(function () {
  var el = document.getElementById("pick-map");
  if (!el || !window.L) { return; }
  var lat = document.getElementById("f-lat"), lng = document.getElementById("f-lng");
  var status = document.querySelector(".js-locate-status");
  var map = L.map(el, { zoomControl: true }).setView([31.332, 121.507], 14);
  var marker = null;
  function place(la, ln, text) {
    lat.value = la.toFixed(6); lng.value = ln.toFixed(6);
    if (marker) { marker.setLatLng([la, ln]); } else { marker = L.circleMarker([la, ln], { radius: 8, color: "#d63939" }).addTo(map); }
    if (status) { status.textContent = text + "：" + la.toFixed(5) + ", " + ln.toFixed(5); }
  }
  fetch(el.getAttribute("data-layers-url"), { credentials: "same-origin" }).then(function (r) {
    if (!r.ok) { return null; }
    return r.json();
  }).then(function (d) {
    if (!d) { return; }
    var g = L.geoJSON(d.grids, { style: { color: "#206bc4", weight: 1, fillOpacity: 0.15 } }).addTo(map);
    L.geoJSON(d.roads, { style: { color: "#868e96", weight: 2 } }).addTo(map);
    if (g.getBounds().isValid()) { map.fitBounds(g.getBounds()); }
  }).catch(function () { /* offline: the map stays empty, GPS still works */ });
  map.on("click", function (e) { place(e.latlng.lat, e.latlng.lng, "已选位置"); });
  if (lat.value && lng.value) { place(parseFloat(lat.value), parseFloat(lng.value), "已选位置"); }
  var btn = document.querySelector(".js-locate");
  if (btn) {
    btn.addEventListener("click", function () {
      if (!navigator.geolocation) { status.textContent = "此设备不支持定位，请在地图上点选"; return; }
      status.textContent = "正在定位…";
      navigator.geolocation.getCurrentPosition(function (p) {
        place(p.coords.latitude, p.coords.longitude, "当前位置");
        map.setView([p.coords.latitude, p.coords.longitude], 17);
      }, function () { status.textContent = "定位失败，请在地图上点选"; }, { enableHighAccuracy: true, timeout: 10000 });
    });
  }
})();
