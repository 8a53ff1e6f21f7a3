// Drone photos placed on the map by their GPS position; marked photos in red.
(function () {
  var el = document.getElementById("drone-map"), data = document.getElementById("drone-points");
  if (!el || !data || !window.L) { return; }
  var points = JSON.parse(data.textContent);
  var map = L.map(el, { preferCanvas: true, maxZoom: 18 }).setView([31.332, 121.507], 14);
  fetch(el.getAttribute("data-layers-url"), { credentials: "same-origin" }).then(function (r) { return r.json(); })
    .then(function (d) {
      L.geoJSON(d.rivers, { style: { color: "#1c7ed6", weight: 5, opacity: 0.6 } }).addTo(map);
      var layer = L.featureGroup(points.map(function (p) {
        var m = L.circleMarker([p.lat, p.lng], { radius: 6, weight: 1, color: "#fff", fillOpacity: 0.9,
          fillColor: p.marked ? "#d63939" : "#f76707" });
        var a = document.createElement("a");
        a.href = "#photo-" + p.id;
        a.textContent = p.name;
        return m.bindPopup(a);
      })).addTo(map);
      if (points.length) { map.fitBounds(layer.getBounds().pad(0.3), { maxZoom: 16 }); }
      el.setAttribute("data-loaded", String(points.length));
    });
})();
