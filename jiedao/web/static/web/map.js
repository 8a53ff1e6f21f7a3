// The home map: our own GeoJSON layers; a tile layer only when a tile URL is configured.
(function () {
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }
  var map = L.map(el, { preferCanvas: true, zoomSnap: 0.25 });
  var tileUrl = el.getAttribute("data-tile-url");
  if (tileUrl) { L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map); }
  var kindColour = { office: "#206bc4", plaza: "#ae3ec9", hotel: "#f76707", public: "#2fb344", other: "#667382" };
  fetch(el.getAttribute("data-layers-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var grids = L.geoJSON(data.grids, {
        style: { color: "#206bc4", weight: 1, fillColor: "#e7f1fb", fillOpacity: 0.45 },
        onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.code + " " + f.properties.name); }
      }).addTo(map);
      var compounds = L.geoJSON(data.compounds, {
        style: { color: "#2fb344", weight: 1, fillOpacity: 0.25 },
        pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 4, color: "#2fb344" }); },
        onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name); }
      }).addTo(map);
      var rivers = L.geoJSON(data.rivers, { style: { color: "#1c7ed6", weight: 5, opacity: 0.7 },
        onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name); } }).addTo(map);
      var roads = L.geoJSON(data.roads, {
        style: function (f) { var c = f.properties.road_class; return { color: c === "arterial" ? "#d63939" : (c === "secondary" ? "#f59f00" : "#868e96"), weight: c === "arterial" ? 4 : (c === "secondary" ? 3 : 2) }; },
        onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name, { sticky: true }); }
      }).addTo(map);
      var buildings = L.geoJSON(data.buildings, {
        pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 5, weight: 1, color: "#fff", fillOpacity: 0.9, fillColor: kindColour[f.properties.building_kind] || "#667382" }); },
        onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name); }
      }).addTo(map);
      L.control.layers(null, { "网格": grids, "小区": compounds, "楼宇": buildings, "道路": roads, "河道": rivers }, { collapsed: el.clientWidth < 576 }).addTo(map);  // a tap-to-open icon on phones
      var bounds = grids.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds, { padding: [10, 10] }); } else { map.setView([31.33, 121.50], 14); }
      el.setAttribute("data-loaded", "1");
    });
})();
