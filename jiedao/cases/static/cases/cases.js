// The dispatcher console's map of the filtered cases.
(function () {
  var el = document.getElementById("case-map");
  if (!el || !window.L) { return; }
  var map = L.map(el, { preferCanvas: true, maxZoom: 19, zoomSnap: 0.25 });
  var tileUrl = el.getAttribute("data-tile-url");
  if (tileUrl) { L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map); }
  map.setView([31.332, 121.507], 14);
  Promise.all([
    fetch("/api/v1/places/map", { credentials: "same-origin" }).then(function (r) { return r.json(); }),
    fetch(el.getAttribute("data-url"), { credentials: "same-origin" }).then(function (r) { return r.json(); })
  ]).then(function (res) {
    var grids = L.geoJSON(res[0].grids, { style: { color: "#206bc4", weight: 1, fillColor: "#e7f1fb", fillOpacity: 0.3 } }).addTo(map);
    L.geoJSON(res[0].roads, { style: { color: "#adb5bd", weight: 2 } }).addTo(map);
    var cases = L.geoJSON(res[1], {
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, { radius: 6, weight: 1, color: "#fff", fillOpacity: 0.9,
          fillColor: f.properties.overdue ? "#d63939" : "#f76707" });
      },
      onEachFeature: function (f, layer) {
        var a = document.createElement("a");
        a.href = "/cases/" + f.properties.id + "/";
        a.textContent = f.properties.number + " " + f.properties.title + "（" + f.properties.state + "）";
        layer.bindPopup(a);
      }
    }).addTo(map);
    // The cases with the grids around them (one case alone would zoom in without end: no tile layer caps it).
    var b = cases.getBounds(), g = grids.getBounds();
    if (b.isValid()) { map.fitBounds(b.pad(0.2), { maxZoom: 15, padding: [12, 12] }); }
    else if (g.isValid()) { map.fitBounds(g, { padding: [12, 12] }); }
    el.setAttribute("data-loaded", String(res[1].features.length));
  }).catch(function () { el.setAttribute("data-error", "1"); });
})();
