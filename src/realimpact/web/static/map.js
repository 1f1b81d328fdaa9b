// The map page: a store layer's areas drawn as vector polygons, no basemap, no tiles.
// Everything comes from this server (CSP default-src 'self'); MapLibre's CSP build
// runs its worker from a file served here, not from a blob: URL.
(function () {
  "use strict";
  var el = document.getElementById("map");
  var status = document.getElementById("map-status");
  if (!el || typeof maplibregl === "undefined") { return; }
  maplibregl.setWorkerUrl(el.dataset.worker);

  function bounds(fc) {
    var b = [180, 90, -180, -90];
    function walk(c) {
      if (typeof c[0] === "number") {
        b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]);
        b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
      } else { c.forEach(walk); }
    }
    fc.features.forEach(function (f) { walk(f.geometry.coordinates); });
    return b;
  }

  function getJson(url, what) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error(what + ": HTTP " + r.status); }
        return r.json();
      });
  }
  // Gi* classes (data-classes: /api/hotspots/gi?...) joined onto the areas by area_id;
  // the server has already made them for the viewer's audience
  var CLASS_COLOURS = ["match", ["get", "hotspot_class"],
    "hot-99", "#b2182b", "hot-95", "#ef8a62", "hot-90", "#fddbc7",
    "cold-90", "#d1e5f0", "cold-95", "#67a9cf", "cold-99", "#2166ac", "#f7f7f7"];
  var classes = el.dataset.classes ? getJson(el.dataset.classes, "hot spots") : Promise.resolve(null);

  Promise.all([getJson(el.dataset.geojson, "areas"), classes])
    .then(function (got) {
      var fc = got[0], gi = got[1];
      if (gi) {
        var byId = {};
        gi.rows.forEach(function (r) { byId[r.area_id] = r.hotspot_class; });
        fc.features.forEach(function (f) {
          f.properties.hotspot_class = byId[f.properties.area_id] || "no-data";
        });
      }
      if (!fc.features.length) { status.textContent = "This layer has no boundaries to draw."; return; }
      var map = new maplibregl.Map({
        container: el,
        style: { version: 8, sources: {}, layers: [
          { id: "background", type: "background", paint: { "background-color": "#f4f4f0" } }
        ] },
        bounds: bounds(fc),
        fitBoundsOptions: { padding: 20 },
        attributionControl: false
      });
      map.on("load", function () {
        map.addSource("areas", { type: "geojson", data: fc });
        map.addLayer({ id: "areas-fill", type: "fill", source: "areas",
          paint: gi ? { "fill-color": CLASS_COLOURS, "fill-opacity": 0.8 }
                    : { "fill-color": "#1f4e79", "fill-opacity": 0.15 } });
        map.addLayer({ id: "areas-line", type: "line", source: "areas",
          paint: { "line-color": "#1f4e79", "line-width": 1.2 } });
        el.dataset.ready = String(fc.features.length);
        status.textContent = fc.features.length + " areas drawn.";
      });
      map.on("click", "areas-fill", function (e) {
        var p = e.features[0].properties;
        status.textContent = p.area_id + (p.name ? " " + p.name : "") +
          (p.hotspot_class ? ": " + p.hotspot_class : "");  // textContent: never markup
      });
    })
    .catch(function (err) { status.textContent = String(err.message || err); });
})();
