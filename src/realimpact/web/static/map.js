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

  fetch(el.dataset.geojson, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) { throw new Error("areas: HTTP " + r.status); }
      return r.json();
    })
    .then(function (fc) {
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
          paint: { "fill-color": "#1f4e79", "fill-opacity": 0.15 } });
        map.addLayer({ id: "areas-line", type: "line", source: "areas",
          paint: { "line-color": "#1f4e79", "line-width": 1.2 } });
        el.dataset.ready = String(fc.features.length);
        status.textContent = fc.features.length + " areas drawn.";
      });
      map.on("click", "areas-fill", function (e) {
        var p = e.features[0].properties;
        status.textContent = p.area_id + (p.name ? " " + p.name : "");  // textContent: never markup
      });
    })
    .catch(function (err) { status.textContent = String(err.message || err); });
})();
