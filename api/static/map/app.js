// The department's base map: areas coloured by their latest status (clusters when zoomed out), filters by commune,
// crop and season, and the outbreak layer (photo diagnoses of the last 14 days by disease). No build step.
"use strict";
const T = {
  vi: { title: "Bản đồ vùng trồng", review_link: "Duyệt nhãn", models_link: "Mô hình", username: "Tên đăng nhập",
    password: "Mật khẩu", signin: "Đăng nhập", bad_login: "Sai tên đăng nhập hoặc mật khẩu.", errors: { role_not_allowed: "Bản đồ nền và báo cáo tuần dành cho cán bộ nông nghiệp và quản trị viên." }, colour_by: "Tô màu theo",
    by_diagnosis: "Chẩn đoán gần nhất", by_growth: "Sinh trưởng", by_damage: "Thiệt hại (drone)", commune: "Xã",
    crop: "Cây trồng", season: "Vụ", all: "Tất cả", outbreak_layer: "Ổ dịch 14 ngày qua", disease: "Bệnh",
    outbreak_totals: "Ảnh có bệnh, 14 ngày", areas_in_view: (n, mode) => `${n} vùng trong khung nhìn${mode === "clusters" ? " (gộp nhóm; phóng to để xem từng vùng)" : ""}`,
    none: "chưa có", no_symptom: "Không triệu chứng", unsure: "Chưa chắc", growth: "Sinh trưởng", damage: "Thiệt hại",
    diagnosis: "Chẩn đoán", area: "Diện tích", latest: "Cập nhật", record_book: "Nhật ký canh tác (PDF)", trace: "Trang truy xuất",
    photos: "ảnh", areas: "vùng", diseased: "vùng có bệnh", no_outbreak: "Không có ảnh bệnh trong 14 ngày." },
  en: { title: "Growing-area map", review_link: "Review", models_link: "Models", username: "Username",
    password: "Password", signin: "Sign in", bad_login: "Wrong username or password.", errors: { role_not_allowed: "The base map and the weekly report are for agronomists and admins." }, colour_by: "Colour by",
    by_diagnosis: "Latest diagnosis", by_growth: "Growth", by_damage: "Damage (drone)", commune: "Commune",
    crop: "Crop", season: "Season", all: "All", outbreak_layer: "Outbreaks, last 14 days", disease: "Disease",
    outbreak_totals: "Diseased photos, 14 days", areas_in_view: (n, mode) => `${n} areas in view${mode === "clusters" ? " (clustered; zoom in to see each area)" : ""}`,
    none: "none yet", no_symptom: "No symptom", unsure: "Unsure", growth: "Growth", damage: "Damage",
    diagnosis: "Diagnosis", area: "Area", latest: "Updated", record_book: "Record book (PDF)", trace: "Traceability page",
    photos: "photos", areas: "areas", diseased: "diseased areas", no_outbreak: "No diseased photo in 14 days." },
};
const PALETTE = ["#d62728", "#ff7f0e", "#8c564b", "#9467bd", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f", "#1f77b4"];
const state = { labels: {}, cropNames: {}, colours: {}, areaLayer: null, outbreakLayer: null, seq: 0 };
const map = L.map("map", { zoomControl: true }).setView([9.6, 105.97], 11);
// the base layer needs the internet; the service's own layers do not
L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", { maxZoom: 19, attribution: "© OpenStreetMap" }).addTo(map);
state.areaLayer = L.layerGroup().addTo(map);
state.outbreakLayer = L.layerGroup().addTo(map);

const ramp = (v, lo, hi, colours) => {  // linear colour ramp over 3 stops
  const t = Math.max(0, Math.min(1, (v - lo) / (hi - lo))) * 2, i = Math.min(1, Math.floor(t)), f = t - i;
  const a = colours[i], b = colours[i + 1], mix = (k) => Math.round(a[k] + (b[k] - a[k]) * f);
  return `rgb(${mix(0)},${mix(1)},${mix(2)})`;
};
const growthColour = (g) => ramp(g, 20, 80, [[215, 48, 39], [254, 224, 139], [26, 152, 80]]);
const damageColour = (d) => ramp(d, 0, 30, [[26, 152, 80], [254, 224, 139], [215, 48, 39]]);
const labelName = (k) => (k === "no_symptom" || k === "unsure") ? cw.t(k) : (state.labels[k]?.[cw.lang] || k);
const cropName = (k) => state.cropNames[k]?.[cw.lang] || k;  // the server's crop table (GET /v1/map/filters)
const diseaseColour = (k) => {
  if (k === "no_symptom") return "#1a9850";
  if (k === "unsure") return "#fee08b";
  if (!(k in state.colours)) state.colours[k] = PALETTE[Object.keys(state.colours).length % PALETTE.length];
  return state.colours[k];
};
function colourOf(p) {
  const by = $("colour-by").value;
  if (by === "growth") return p.growth == null ? "#bbb" : growthColour(p.growth);
  if (by === "damage") return p.damage_pct == null ? "#bbb" : damageColour(p.damage_pct);
  if (p.cluster) return p.diseased ? "#d62728" : "#1a9850";
  return p.diagnosis ? diseaseColour(p.diagnosis) : "#bbb";
}
function legend() {
  const by = $("colour-by").value, rows = [];
  if (by === "growth") [20, 50, 80].forEach((g) => rows.push([growthColour(g), `${cw.t("growth")} ${g}`]));
  else if (by === "damage") [0, 15, 30].forEach((d) => rows.push([damageColour(d), `${cw.t("damage")} ${d} %`]));
  else Object.keys(state.colours).concat(["no_symptom", "unsure"]).forEach((k) => rows.push([diseaseColour(k), labelName(k)]));
  rows.push(["#bbb", cw.t("none")]);
  $("legend").innerHTML = "";
  rows.forEach(([c, text]) => { const d = document.createElement("div"); d.innerHTML = `<i style="background:${c}"></i>`; d.append(text); $("legend").append(d); });
}
const viewQuery = () => {
  const b = map.getBounds().pad(0.1), clamp = (v, m) => Math.max(-m, Math.min(m, v));
  const q = new URLSearchParams({ bbox: [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180), clamp(b.getNorth(), 90)].map((v) => v.toFixed(6)).join(","), zoom: map.getZoom() });
  [["commune", "f-commune"], ["crop", "f-crop"], ["season", "f-season"]].forEach(([k, id]) => { if ($(id).value) q.set(k, $(id).value); });
  return q;
};
function areaPopup(p) {
  const div = document.createElement("div"), line = (k, v) => { const e = document.createElement("div"); e.textContent = `${k}: ${v}`; div.append(e); };
  const h = document.createElement("b"); h.textContent = `${p.code} – ${p.name}`; div.append(h);
  line(cw.t("crop"), [cropName(p.crop), p.variety].filter(Boolean).join(" ")); line(cw.t("commune"), p.commune || "–");
  line(cw.t("area"), `${cw.num(p.area_ha, 3)} ha`); line(cw.t("diagnosis"), p.diagnosis ? `${labelName(p.diagnosis)}${p.ses != null ? ` (SES ${p.ses})` : ""}` : cw.t("none"));
  line(cw.t("growth"), p.growth != null ? cw.num(p.growth, 1) : "–"); line(cw.t("damage"), p.damage_pct != null ? `${cw.num(p.damage_pct, 2)} %` : "–");
  line(cw.t("latest"), p.latest_at ? new Date(p.latest_at).toLocaleDateString(cw.lang === "vi" ? "vi-VN" : "en-GB") : "–");
  const a = document.createElement("a"); a.href = `/trace/${encodeURIComponent(p.code)}`; a.target = "_blank"; a.textContent = cw.t("trace"); div.append(a);
  div.append(" · ");
  const pdf = document.createElement("a"); pdf.href = "#"; pdf.textContent = cw.t("record_book");
  pdf.addEventListener("click", async (ev) => { ev.preventDefault(); const r = await fetch(`/v1/areas/${encodeURIComponent(p.code)}/record-book?format=pdf`, { headers: { Authorization: `Bearer ${cw.token}` } }); if (r.ok) window.open(URL.createObjectURL(await r.blob())); });
  div.append(pdf);
  return div;
}
async function loadAreas(seq) {
  const fc = await cw.api(`/v1/map/areas?${viewQuery()}`);
  if (seq !== state.seq) return;
  state.areaLayer.clearLayers();
  $("count").textContent = cw.t("areas_in_view")(fc.n_areas, fc.mode);
  fc.features.forEach((f) => {
    const p = f.properties;
    if (p.cluster) {
      const r = 8 + 4 * Math.log2(p.count), c = colourOf(p);
      const m = L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]], { radius: r, color: "#fff", weight: 1.5, fillColor: c, fillOpacity: 0.85, className: "cluster" })
        .bindTooltip(`${p.count} ${cw.t("areas")}, ${p.diseased} ${cw.t("diseased")}`, { permanent: false });
      m.on("click", () => map.setView(m.getLatLng(), Math.min(map.getZoom() + 2, 18)));
      state.areaLayer.addLayer(m);
    } else {
      state.areaLayer.addLayer(L.geoJSON(f, { style: { color: "#234", weight: 1, fillColor: colourOf(p), fillOpacity: 0.7 } }).bindPopup(() => areaPopup(p)));
    }
  });
  legend();
}
async function loadOutbreaks(seq) {
  state.outbreakLayer.clearLayers();
  if (!$("outbreaks").checked) { $("totals").innerHTML = ""; return; }
  const q = viewQuery(); if ($("f-disease").value) q.set("disease", $("f-disease").value);
  const fc = await cw.api(`/v1/map/outbreaks?${q}`);
  if (seq !== state.seq) return;
  fc.features.forEach((f) => {
    const p = f.properties, c = diseaseColour(p.disease);
    state.outbreakLayer.addLayer(L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]],
      { radius: 5 + 3 * Math.sqrt(p.photos), color: c, weight: 3, fill: false, dashArray: "4 3", className: "outbreak" })
      .bindTooltip(`${labelName(p.disease)}: ${p.photos} ${cw.t("photos")}, ${p.areas} ${cw.t("areas")}, SES ≤ ${p.max_ses ?? "–"}`));
  });
  $("totals").innerHTML = "";
  const entries = Object.entries(fc.totals);
  if (!entries.length) { const li = document.createElement("li"); li.textContent = cw.t("no_outbreak"); $("totals").append(li); }
  entries.sort((a, b) => b[1] - a[1]).forEach(([k, n]) => { const li = document.createElement("li"); li.textContent = `${labelName(k)}: ${n}`; li.style.color = diseaseColour(k); $("totals").append(li); });
  legend();
}
async function refresh() {
  const seq = ++state.seq;
  try { await Promise.all([loadAreas(seq), loadOutbreaks(seq)]); $("map-error").textContent = ""; }
  catch (e) { $("map-error").textContent = e.message; }
}
function fillSelect(id, values, label = (v) => v) {
  const keep = $(id).options[0]; $(id).innerHTML = ""; $(id).append(keep);
  values.forEach((v) => { const o = document.createElement("option"); o.value = v; o.textContent = label(v); $(id).append(o); });
}
async function onSignedIn() {
  const [filters, labels] = await Promise.all([cw.api("/v1/map/filters"), cw.api("/v1/labels")]);
  labels.forEach((l) => { state.labels[l.name] = { vi: l.name_vi, en: l.name_en }; });
  state.cropNames = filters.crop_names || {};
  fillSelect("f-commune", filters.communes); fillSelect("f-crop", filters.crops, cropName); fillSelect("f-season", filters.seasons);
  fillSelect("f-disease", labels.filter((l) => l.kind === "disease" || l.kind === "pest").map((l) => l.name), labelName);
  setTimeout(() => map.invalidateSize(), 0);
  await refresh();
}
let timer = null;
map.on("moveend", () => { clearTimeout(timer); timer = setTimeout(() => { if (cw.token) refresh(); }, 150); });
["colour-by", "f-commune", "f-crop", "f-season", "f-disease", "outbreaks"].forEach((id) => $(id).addEventListener("change", refresh));
// on a language switch the filters' names follow (they were written at sign-in), then the map
function relabel() {
  for (const [id, name] of [["f-disease", labelName], ["f-crop", cropName]]) {
    for (const o of $(id).options) if (o.value) o.textContent = name(o.value);
  }
}
cw.start(T, onSignedIn, () => { relabel(); return refresh(); });
