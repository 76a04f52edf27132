// cropwatch drone operator's page: pick an analysed flight (or upload one and follow its job), plan spray zones,
// see them on the map over the orthomosaic itself (tiles served from the stored GeoTIFFs) with an analysis layer,
// the exclusions and the flight's summary, download every format. No outside tile server is needed.
"use strict";
const T = {
  vi: { title: "Bản đồ phun thuốc", username: "Tên đăng nhập", password: "Mật khẩu", signin: "Đăng nhập",
    area: "Vùng trồng", flight: "Chuyến bay đã phân tích", upload: "Tải ảnh trực giao mới (GeoTIFF)",
    upload_btn: "Tải lên và phân tích", plan: "Kế hoạch phun", swath: "Bề rộng phun (m)", rate: "Lượng nước thuốc phun (L/ha)",
    buffer: "Vùng đệm (m)", min_zone: "Vùng tối thiểu (m²)", flow: "Lưu lượng (L/phút)", speed: "Tốc độ (km/h)",
    tank: "Bình (L)", product: "Thuốc", exclusions: "Vùng cấm phun", excl_kind: "Loại",
    excl_buffer: "Đệm (m)", make_plan: "Lập kế hoạch", summary: "Tóm tắt", no_flight: "(chưa có)",
    treated: "Diện tích phun", volume: "Lượng nước thuốc (hỗn hợp)", blanket: "Phun toàn ruộng (nước thuốc)", saving: "Tiết kiệm",
    dose: "Liều thuốc / ha (theo nhãn)", dose_unit: "Đơn vị liều", product_field: "Lượng thuốc cho ruộng",
    product_tank: "Lượng thuốc mỗi bình đầy ({tank} L)", minutes: "phút", zone: "vùng",
    bad_number: "«{field}»: «{value}» không phải là số; viết ví dụ 0,3 hoặc 0.3.", field_boundary: "Ranh giới ruộng cho kế hoạch này",
    boundary_area: "Ranh giới của vùng trồng", boundary_drawn: "Ranh giới đã vẽ", boundary_file: "Ranh giới từ tệp",
    draw_boundary: "Vẽ ranh giới", reset_boundary: "Dùng ranh giới vùng",
    upload_boundary: "hoặc tải tệp (GeoJSON, KML/KMZ, Shapefile .zip, GeoPackage)", draw_exclusion: "Vẽ vùng cấm",
    upload_exclusion: "hoặc tải tệp (mọi định dạng như trên)", clear_exclusions: "Xoá các vùng cấm",
    n_exclusions: "vùng cấm", draw_hint: "Nhấp để đặt các đỉnh; nhấp lại đỉnh đầu tiên để khép vùng.",
    k_water: "kênh, ao", k_building: "nhà", k_road: "đường", k_power_line: "đường điện", k_other: "khác",
    err_plan: "Không lập được kế hoạch", err_file: "Không đọc được tệp", err_no_polygon: "tệp không có vùng (polygon) nào",
    err_download: "Không tải được", file_warnings: "Lưu ý về tệp", lg_none: "không phun", lg_spot: "phun điểm", lg_full: "phun đủ liều", lg_excl: "cấm phun",
    flight_time: "Thời gian bay", tanks: "Số bình", running: "Đang phân tích", failed: "Lỗi",
    layer: "Lớp bản đồ", layer_damage: "Hư hại", layer_growth: "Sinh trưởng", layer_canopy: "Tán lá",
    layer_none: "Chỉ ảnh", opacity: "Độ đậm", show_ortho: "Ảnh trực giao", flight_summary: "Chuyến bay",
    f_date: "Ngày phân tích", f_sensor: "Cảm biến", f_area: "Diện tích phân tích", f_canopy: "Độ che phủ tán lá",
    f_growth: "Điểm sinh trưởng", f_damaged: "Diện tích hư hại", f_method: "Cách tính hư hại", f_model: "Mô hình",
    f_covered: "Phủ vùng trồng",
    partial_cover: "Chuyến bay chỉ phủ {pct} % diện tích vùng trồng: số liệu chỉ nói về phần đó.",
    notice_bands_by_tags: "Các kênh màu của tệp được đọc theo nhãn màu của chúng (ví dụ xanh lam, xanh lục, đỏ), không theo thứ tự RGB.",
    notice_band_left_out: "Kênh thứ 4 không phải mặt nạ trong suốt (alpha) nên đã bị bỏ qua; kênh 1-3 được đọc là đỏ, xanh lục, xanh lam.",
    notice_mostly_black: "Phần lớn điểm ảnh đen ở mọi kênh: không đo được tán lá hay sinh trưởng ở đó; kiểm tra tệp xuất.",
    notice_sixth_band_left_out: "Kênh thứ 6 (nhiệt hoặc lớp khác) đã bị bỏ qua: tán lá, sinh trưởng và thiệt hại được tính từ 5 kênh đã đặt tên.",
    notice_bit_depth: "Tệp 16-bit chứa giá trị có độ sâu bit thấp hơn (ví dụ 12-bit): ảnh được đọc theo độ sâu đó.",
    no_imagery: "{ha} ha ruộng không có ảnh trong bản đồ hư hại: để ra ngoài kế hoạch như vùng cấm phun; bay lại để lập kế hoạch cho phần đó.",
    m_model: "mô hình học máy", m_index_anomaly: "chỉ số bất thường (so với chính ruộng này)",
    index_warning: "Hư hại được tính từ chỉ số thực vật so với chính ruộng này, không phải chẩn đoán bệnh: kiểm tra ngoài đồng trước khi phun.",
    gt_title: "Nhãn thực địa (cho cán bộ nông nghiệp)", gt_label: "Nhãn", draw_gt: "Vẽ nhãn", show_photos: "Ảnh của nông dân",
    gt_hint: "Vẽ vùng hư hại thật, lúa khỏe và những thứ dễ nhầm (rơm rạ, nước, bóng, đất trống). Chấm tròn là ảnh nông dân chụp trong chuyến bay.",
    gt_damage: "hư hại thật", gt_healthy_canopy: "lúa khỏe", gt_stubble: "rơm rạ, gốc rạ", gt_water: "nước", gt_shadow: "bóng",
    gt_bare_soil: "đất trống", n_labels: "nhãn", n_photos: "ảnh", delete_label: "Xoá nhãn", by: "bởi",
    signin_failed: "Sai tên đăng nhập hoặc mật khẩu.",
    left_out: "{n}/{total} ô có hư hại không được phun (trong vùng cấm phun, hoặc vùng nhỏ hơn {min} m²): giảm \"Vùng tối thiểu\" hoặc kiểm tra vùng cấm để phun chúng.",
    // the server's finer error names (`reason`), said in Vietnamese; the English page shows the server's own detail
    errors: { role_not_allowed: "Chuyến bay và bản đồ phun do người điều khiển drone, cán bộ nông nghiệp hoặc quản trị viên xử lý: tài khoản này không có quyền đó.",
      raster_not_tiff: "Tệp không phải GeoTIFF: hãy xuất ảnh trực giao dạng GeoTIFF.",
      raster_truncated: "Tệp GeoTIFF bị thiếu hoặc hỏng (tải lên chưa xong?): hãy tải lên lại.",
      raster_unreadable: "Không đọc được tệp tải lên: hãy chọn lại tệp.",
      raster_no_georeference: "GeoTIFF không có toạ độ (hệ toạ độ, geotransform): hãy xuất kèm toạ độ, ví dụ EPSG:32648 (UTM 48N).",
      raster_too_many_pixels: "Ảnh có quá nhiều điểm ảnh so với giới hạn của dịch vụ: hãy chia nhỏ ảnh ghép.",
      raster_unknown_sensor: "Cảm biến không có trong danh sách của dịch vụ: hãy bỏ trống để tự nhận biết, hoặc chọn một cảm biến có sẵn.",
      raster_bands: "Số kênh hoặc kiểu dữ liệu không khớp cảm biến nào: cần RGB (8 bit, 16 bit hoặc số thực), RGB + alpha, hoặc ảnh đa phổ 5 kênh (16 bit hoặc phản xạ dạng số thực); ảnh đa phổ 4 hoặc 6 kênh, và ảnh RGB 16 bit hoặc số thực có thêm kênh thứ 4, cần đặt tên các kênh.",
      raster_outside_area: "Ảnh trực giao không nằm trên ranh giới vùng trồng: kiểm tra mã vùng hoặc chuyến bay.",
      raster_value_range: "Ảnh số thực có giá trị vượt mọi dải màu (0-1, 0-255 ... 0-65535): nếu đó là giá trị lấp phần ngoài ảnh ghép, hãy khai báo nó là nodata (gdal_edit.py -a_nodata), hoặc xuất ảnh RGB 8 bit.",
      raster_no_valid_pixels: "Ảnh trực giao không có điểm ảnh hợp lệ nào trên vùng trồng (chỉ có vùng trống, nodata): kiểm tra tệp xuất hoặc bay lại.",
      upload_empty: "Tệp rỗng: hãy chọn lại tệp.", upload_too_large: "Tệp quá lớn: hãy chia nhỏ hoặc gửi tệp nhỏ hơn.",
      plan_config: "Thông số phun không hợp lệ: kiểm tra các ô số (bề rộng phun, lượng phun, đệm, vùng tối thiểu).",
      plan_boundary_off_area: "Ranh giới vẽ không nằm trên vùng trồng đã chọn: vẽ lại trên ruộng hoặc chọn đúng vùng trồng.",
      plan_flight_not_ready: "Chuyến bay chưa phân tích xong: chờ phân tích xong rồi lập kế hoạch.",
      plan_outside_raster: "Ranh giới ruộng không nằm trong bản đồ hư hại: kiểm tra vùng trồng hoặc chuyến bay.",
      plan_cells_too_small: "Bề rộng phun quá nhỏ so với ruộng này: tăng bề rộng phun.",
      plan_all_excluded: "Vùng cấm phun và vùng đệm phủ hết ruộng: không còn chỗ nào để phun; giảm vùng đệm hoặc bớt vùng cấm.",
      plan_no_damage_pixels: "Bản đồ hư hại không có điểm ảnh hợp lệ trong ruộng: bay lại phủ ruộng này.",
      plan_not_a_damage_map: "Tệp này không phải bản đồ hư hại (một kênh, 0-100 %): hãy chọn tệp damage.tif của lần phân tích, không phải ảnh trực giao hay bản đồ tán lá.",
      plan_exclusion_without_width: "Vùng cấm phun dạng đường hoặc điểm cần vùng đệm lớn hơn 0 m (ví dụ 5 m cho đường dây điện), hoặc vẽ nó thành vùng.",
      plan_exclusion_invalid: "Một vùng cấm phun không đọc được (không có hình, hình tự cắt, hoặc toạ độ không phải kinh độ, vĩ độ): sửa tệp hoặc vẽ lại vùng đó.",
      plan_rate_unreachable: "Máy bay không phun được lượng này: bay chậm hơn, thu hẹp bề rộng phun hoặc giảm lượng phun." } },
  en: { title: "Spray map", username: "Username", password: "Password", signin: "Sign in",
    area: "Growing area", flight: "Analysed flight", upload: "Upload a new orthomosaic (GeoTIFF)",
    upload_btn: "Upload and analyse", plan: "Spray plan", swath: "Swath (m)", rate: "Spray volume (L/ha of mix)",
    buffer: "Buffer (m)", min_zone: "Minimum zone (m²)", flow: "Flow (L/min)", speed: "Speed (km/h)",
    tank: "Tank (L)", product: "Product", exclusions: "No-spray areas", excl_kind: "Kind",
    excl_buffer: "Buffer (m)", make_plan: "Make plan", summary: "Summary", no_flight: "(none yet)",
    treated: "Treated area", volume: "Spray mix", blanket: "Blanket spraying (mix)", saving: "Saving",
    dose: "Product dose per ha (label)", dose_unit: "Dose unit", product_field: "Product for the field",
    product_tank: "Product per full tank ({tank} L)", minutes: "min", zone: "zone",
    bad_number: "“{field}”: “{value}” is no number; write e.g. 0.3 or 0,3.", field_boundary: "Field boundary for this plan",
    boundary_area: "The growing area's boundary", boundary_drawn: "Drawn boundary", boundary_file: "Boundary from file",
    draw_boundary: "Draw boundary", reset_boundary: "Use the area's boundary",
    upload_boundary: "or upload a file (GeoJSON, KML/KMZ, zipped Shapefile, GeoPackage)", draw_exclusion: "Draw no-spray area",
    upload_exclusion: "or upload a file (any of the formats above)", clear_exclusions: "Clear no-spray areas",
    n_exclusions: "no-spray areas", draw_hint: "Click to place the corners; click the first corner again to close.",
    k_water: "canal, pond", k_building: "building", k_road: "road", k_power_line: "power line", k_other: "other",
    err_plan: "The plan could not be made", err_file: "The file could not be read", err_no_polygon: "the file has no polygon",
    file_warnings: "About the file", err_download: "Download failed", lg_none: "not sprayed", lg_spot: "spot", lg_full: "full rate", lg_excl: "no-spray",
    flight_time: "Flight time", tanks: "Tank loads", running: "Analysing", failed: "Failed",
    layer: "Map layer", layer_damage: "Damage", layer_growth: "Growth", layer_canopy: "Canopy",
    layer_none: "Imagery only", opacity: "Opacity", show_ortho: "Orthomosaic", flight_summary: "Flight",
    f_date: "Analysed on", f_sensor: "Sensor", f_area: "Analysed area", f_canopy: "Canopy cover",
    f_growth: "Growth score", f_damaged: "Damaged area", f_method: "Damage method", f_model: "Model",
    f_covered: "Growing area covered",
    partial_cover: "The flight covers {pct} % of the growing area: its figures describe that part only.",
    notice_bands_by_tags: "The file's bands were read in the order their colour tags say (blue, green, red, say), not as RGB.",
    notice_band_left_out: "Band 4 is no transparency mask (alpha): it was left out, and bands 1-3 were read as red, green and blue.",
    notice_mostly_black: "Most pixels are black in every band: no canopy or growth can be measured there; check the export.",
    notice_sixth_band_left_out: "The sixth band (thermal or another layer) was left out: canopy, growth and damage come from the five named bands.",
    notice_bit_depth: "The 16-bit file holds values of a lower bit depth (12-bit, say): it was read at that depth.",
    no_imagery: "{ha} ha of the field has no imagery in the damage map: left out of the plan like a no-spray area; fly it again to plan it.",
    m_model: "machine-learning model", m_index_anomaly: "index anomaly (against this field itself)",
    index_warning: "Damage comes from the vegetation index against this field itself, not a diagnosis: check on the ground before spraying.",
    gt_title: "Ground truth (for agronomists)", gt_label: "Label", draw_gt: "Draw label", show_photos: "Farmers' photos",
    gt_hint: "Outline real damage, healthy canopy and look-alikes (stubble, water, shadow, bare soil). Dots are farmers' photos taken inside the flight.",
    gt_damage: "real damage", gt_healthy_canopy: "healthy canopy", gt_stubble: "stubble, straw", gt_water: "water", gt_shadow: "shadow",
    gt_bare_soil: "bare soil", n_labels: "labels", n_photos: "photos", delete_label: "Delete label", by: "by",
    signin_failed: "Wrong username or password.", errors: {},
    left_out: "{n} of {total} cells with damage are not sprayed (in a no-spray area, or a zone under {min} m²): lower \"Minimum zone\" or check the no-spray areas to spray them." },
};
let lang = localStorage.getItem("cw_lang") || "vi";
let token = sessionStorage.getItem("cw_token");
const $ = (id) => document.getElementById(id);
const t = (k) => T[lang][k] || k;
// text from users (file names) goes into option lists built as HTML: escaped
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
// the server's times are UTC ("...Z"); an operator reads them on the phone's own clock, as the farmer's page does
// the sensor profiles' names as a pilot knows them (inference/data/sensors.json ids)
const SENSOR_NAMES = { rgb: "RGB", rgba: "RGB + alpha", rgb_plus_band: "RGB (+ 1)", micasense_rededge: "MicaSense RedEdge (5 bands)",
  micasense_rededge_alpha: "MicaSense RedEdge (5 bands + alpha)", rgb16: "RGB (16-bit)", rgba16: "RGB + alpha (16-bit)",
  rgb16_plus_band: "RGB (16-bit, + 1)", rgb_float: "RGB (float)", rgba_float: "RGB + alpha (float)",
  rgb_float_plus_band: "RGB (float, + 1)",
  multispectral_reflectance: "Multispectral reflectance (5 bands)",
  multispectral_reflectance_alpha: "Multispectral reflectance (5 bands + alpha)",
  multispectral_4band: "Multispectral (green, red, red edge, NIR)",
  multispectral_4band_reflectance: "Multispectral reflectance (green, red, red edge, NIR)" };
// numbers in the page's language: Vietnamese writes 0,95 ha and 2,7 % (decimal comma), as the farmer's page does
const num = (x, min, max = min) => Number(x).toLocaleString(lang === "vi" ? "vi-VN" : "en-US",
  { minimumFractionDigits: min, maximumFractionDigits: max });
const localTime = (iso) => new Date(iso).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { dateStyle: "short", timeStyle: "short" });
const map = L.map("map", { zoomControl: true, attributionControl: false }).setView([9.6, 105.97], 13);
const layers = { ortho: null, boundary: null, analysis: null, zones: null, exclusions: null, truth: null, photos: null };
const GT_COLOURS = { damage: "#d7191c", healthy_canopy: "#1a9641", stubble: "#c9a227", water: "#2c7bb6", shadow: "#555555", bare_soil: "#8c510a" };
let jobs = [], lastMap = null, gtCounts = null;
let following = null;  // the job whose progress is shown (followJob): one poll at a time
// what the operator draws or uploads for the next plan: a field boundary (null: the area's own) and no-spray areas
const BOUNDARY_STYLE = { color: "#c77700", weight: 3, fill: false };
const EXCL_STYLE = { color: "#1565c0", weight: 2, fillColor: "#1565c0", fillOpacity: 0.25 };
let field = null, fieldState = "boundary_area", drawTarget = null;
const exclusionGroup = L.featureGroup().addTo(map);
map.pm.addControls({ position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false,
  drawRectangle: false, drawPolygon: false, drawCircle: false, drawText: false, cutPolygon: false, rotateMode: false,
  dragMode: false, editMode: true, removalMode: true });

function applyLang() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("lang").textContent = lang === "vi" ? "EN" : "VI";
  localiseDecimals();
  showDrawState();
  updateLegend(lastMap);
  if (lastMap) showSummary(lastMap);
  if (jobs.length) fillJobs(true);
  showFlight(currentJob());
  showGtState();
}
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {}, { Authorization: `Bearer ${token}` });
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  const isJson = r.headers.get("content-type")?.includes("json");
  const body = isJson ? await r.json() : r;
  if (!r.ok) { const e = new Error((isJson && body.detail) || r.statusText); e.reason = isJson ? body.reason : null; throw e; }
  return body;
}
// an error said in the page's language where the server gave its finer name, else the server's own words
const errText = (e) => (e.reason && t("errors")[e.reason]) || e.message;
function setLayer(name, layer) {
  if (layers[name]) map.removeLayer(layers[name]);
  layers[name] = layer;
  if (layer) layer.addTo(map);
}
async function loadAreas() {
  const page = await api("/v1/areas?limit=500");
  $("area").innerHTML = page.items.map((a) => `<option value="${esc(a.code)}">${esc(a.code)} – ${esc(a.name)}</option>`).join("");  // names are users' text
  window._areas = Object.fromEntries(page.items.map((a) => [a.code, a]));
  await areaChanged();
}
function clearPlan() {
  // a plan belongs to one area and one flight: nothing of it may stay on screen once either changes or it fails
  lastMap = null;
  updateLegend(null);
  setLayer("zones", null);
  setLayer("exclusions", null);
  $("summary-list").innerHTML = "";
  $("downloads").innerHTML = "";
  $("summary").hidden = true;
}
async function areaChanged() {
  clearPlan();
  clearDrawings();  // a drawn field and its no-spray areas belong to the area they were drawn on
  const a = window._areas[$("area").value];
  if (!a) return;
  const b = L.geoJSON(a.boundary, { style: { color: "#1f5f1f", weight: 3, fill: false }, pmIgnore: true });
  setLayer("boundary", b);
  map.fitBounds(b.getBounds(), { padding: [20, 20] });
  await loadJobs();
}
async function loadJobs() {
  following = null; $("job-progress").hidden = true;  // the area's own jobs only (another area may have been chosen)
  jobs = await api(`/v1/jobs?area_code=${encodeURIComponent($("area").value)}`);
  fillJobs();
  await jobChanged();
  // a flight still being analysed (the page was reloaded, or opened elsewhere): its progress, then the flight itself
  const live = jobs.find((j) => j.status === "queued" || j.status === "running");
  if (live && following !== live.id) followJob(live.id);
}
function fillJobs(keepChoice = false) {  // the flight list in the page's language; on a switch, keeping the choice
  const keep = keepChoice ? $("job").value : "", done = jobs.filter((j) => j.status === "succeeded");
  $("job").innerHTML = done.length ? done.map((j) => `<option value="${j.id}">#${j.id} ${esc(j.params?.filename || "")} ${localTime(j.created_at)} (${t(`m_${j.result.damage_method}`)})</option>`).join("")
    : `<option value="">${t("no_flight")}</option>`;
  if (keep && done.some((j) => String(j.id) === keep)) $("job").value = keep;
}
function currentJob() { return jobs.find((x) => String(x.id) === $("job").value); }
// Leaflet's tile layer cannot send the token: fetch each tile with it and hand Leaflet a blob URL.
L.TileLayer.Auth = L.TileLayer.extend({
  createTile(coords, done) {
    const img = document.createElement("img");
    img.alt = "";
    img.dataset.src = this.getTileUrl(coords);
    fetch(this.getTileUrl(coords), { headers: { Authorization: `Bearer ${token}` } })
      .then((r) => { if (!r.ok) throw new Error(r.statusText); return r.blob(); })
      .then((b) => { img.onload = () => { URL.revokeObjectURL(img.src); done(null, img); }; img.src = URL.createObjectURL(b); })
      .catch((err) => done(err, img));
    return img;
  },
});
function authTiles(j, layer, opts) {
  const [w, s, e, n] = j.result.bounds_wgs84;
  return new L.TileLayer.Auth(`/v1/jobs/${j.id}/tiles/${layer}/{z}/{x}/{y}.png`,
    Object.assign({ bounds: [[s, w], [n, e]], maxZoom: 24, maxNativeZoom: 24, tileSize: 256 }, opts));
}
function showLayers() {
  const j = currentJob();
  if (!j) { setLayer("ortho", null); setLayer("analysis", null); return; }
  setLayer("ortho", $("show-ortho").checked ? authTiles(j, "ortho", { zIndex: 1 }) : null);
  const name = $("layer").value;
  setLayer("analysis", name ? authTiles(j, name, { zIndex: 2, opacity: $("opacity").value / 100 }) : null);
  if (layers.boundary) layers.boundary.bringToFront();
}
function showFlight(j) {
  $("flight").hidden = !j;
  if (!j) return;
  const r = j.result;
  const rows = [["f_date", localTime(j.finished_at || j.created_at)], ["f_sensor", SENSOR_NAMES[r.sensor] || r.sensor],
    ["f_area", `${num(r.analysed_area_ha, 2)} ha`], ["f_canopy", `${num(r.canopy_cover_pct, 0)} %`],
    ["f_growth", `${num(r.growth_score, 0)} / 100`],
    ["f_damaged", `${num(r.damaged_area_ha, 3)} ha (${num(r.damaged_pct, 1)} %)`],
    ["f_method", t(`m_${r.damage_method}`)]];
  if (r.damage_model) rows.push(["f_model", `${r.damage_model.name} ${r.damage_model.version || ""}`]);
  const covered = r.area_covered_pct;  // flights analysed before 2026-12-02 have none
  if (covered != null) rows.push(["f_covered", `${num(covered, 0)} %`]);
  $("flight-list").innerHTML = rows.map(([k, v]) => `<dt>${t(k)}</dt><dd>${v}</dd>`).join("");
  const model = r.damage_model ? ((lang === "vi" && r.damage_model.warning_vi) || r.damage_model.warning) : t("index_warning");
  const notices = (r.notices || []).map((c) => t(`notice_${c}`));
  const warn = [covered != null && covered < 95 ? t("partial_cover").replace("{pct}", num(covered, 0)) : "", ...notices, model]
    .filter(Boolean).join(" ");
  $("flight-warning").hidden = !warn;
  $("flight-warning").textContent = warn || "";
}
async function jobChanged() {
  clearPlan();
  const j = currentJob();
  showFlight(j);
  showLayers();
  loadTruth().catch((e) => { $("gt-error").textContent = e.message; });
}

// ground truth drawn on the flight, and farmers' photos inside it to guide where to look
async function loadTruth() {
  const j = currentJob();
  $("truth").hidden = !j; $("gt-error").textContent = "";
  if (!j) { setLayer("truth", null); setLayer("photos", null); return; }
  const [fc, photos] = await Promise.all([api(`/v1/flights/${j.id}/labels`), api(`/v1/flights/${j.id}/photos`)]);
  setLayer("truth", L.geoJSON(fc, { pmIgnore: true, style: (f) => ({ color: GT_COLOURS[f.properties.label], weight: 2, fillOpacity: 0.3 }),
    onEachFeature: (f, l) => {
      const div = document.createElement("div");
      div.textContent = `${t("gt_" + f.properties.label)} · ${f.properties.area_m2} m² · ${t("by")} ${f.properties.by}`;
      const b = document.createElement("button"); b.type = "button"; b.textContent = t("delete_label");
      b.addEventListener("click", async () => {
        try { await api(`/v1/flights/${j.id}/labels/${f.properties.id}`, { method: "DELETE" }); map.closePopup(); await loadTruth(); }
        catch (e) { $("gt-error").textContent = e.message; }
      });
      div.appendChild(b); l.bindPopup(div);
    } }));
  setLayer("photos", $("show-photos").checked ? L.geoJSON(photos, { pmIgnore: true,
    pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 6, color: "#fff", weight: 2, fillColor: f.properties.status === "diagnosed" ? "#7b3294" : "#999", fillOpacity: 1 }),
    onEachFeature: (f, l) => { const p = f.properties; l.bindPopup(`#${p.photo_id} · ${p.diagnosis}${p.ses !== null && p.ses !== undefined ? " · SES " + p.ses : ""} · ${p.observed_at.slice(0, 10)}`); } }) : null);
  gtCounts = [fc.features.length, photos.features.length];
  showGtState();
}
function showGtState() {
  $("gt-state").textContent = gtCounts ? `${gtCounts[0]} ${t("n_labels")} · ${gtCounts[1]} ${t("n_photos")}` : "";
}
$("show-photos").addEventListener("change", () => loadTruth().catch((e) => { $("gt-error").textContent = e.message; }));
$("draw-gt").addEventListener("click", () => startDraw("gt"));
$("layer").addEventListener("change", showLayers);
$("show-ortho").addEventListener("change", showLayers);
$("opacity").addEventListener("input", () => { if (layers.analysis) layers.analysis.setOpacity($("opacity").value / 100); });
function followJob(id) {
  following = id;
  $("job-progress").hidden = false;
  const tick = async () => {
    if (following !== id) return;  // another area chosen, another upload: that one is followed now
    let j;
    try { j = await api(`/v1/jobs/${id}`); } catch (e) { setTimeout(tick, 3000); return; }  // a dropped link: try again
    $("job-bar").value = j.progress_pct; $("job-pct").textContent = `${t("running")} ${Math.round(j.progress_pct)}%`;
    if (j.status === "succeeded") { following = null; $("job-progress").hidden = true; await loadJobs(); $("job").value = String(id); await jobChanged(); }
    else if (j.status === "failed" || j.status === "cancelled") { following = null; $("job-progress").hidden = true; $("job-error").textContent = `${t("failed")}: ${errText({ reason: j.error_reason, message: j.error || j.status })}`; }
    else setTimeout(tick, 1000);
  };
  tick();
}
$("upload-btn").addEventListener("click", async () => {
  const f = $("ortho").files[0];
  if (!f) return;
  $("job-error").textContent = "";
  const form = new FormData(); form.append("file", f); form.append("area_code", $("area").value);
  try { const j = await api("/v1/flights", { method: "POST", body: form }); followJob(j.id); }
  catch (e) { $("job-error").textContent = errText(e); }
});
function showDrawState() {
  $("boundary-state").textContent = t(fieldState);
  const n = exclusionGroup.getLayers().length;
  $("exclusion-state").textContent = n ? `${n} ${t("n_exclusions")}` : "";
}
function setField(layer, state) {
  if (field) map.removeLayer(field);
  field = layer; fieldState = layer ? state : "boundary_area";
  if (layer) { layer.addTo(map); map.fitBounds(layer.getBounds(), { padding: [20, 20] }); }
  clearPlan(); showDrawState();
}
function addExclusion(layer, name) {
  layer.cw = { name, kind: $("excl-kind").value, buffer_m: decimal("excl-buffer") || 0 };
  exclusionGroup.addLayer(layer);
  clearPlan(); showDrawState();
}
function clearDrawings() {
  if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
  setField(null); exclusionGroup.clearLayers(); showDrawState();
}
function startDraw(target) {
  drawTarget = target;
  document.querySelectorAll("button.active").forEach((b) => b.classList.remove("active"));
  $(`draw-${target}`).classList.add("active");
  $(`${target}-error`).textContent = t("draw_hint");
  const style = target === "boundary" ? BOUNDARY_STYLE : target === "gt" ? { color: GT_COLOURS[$("gt-label").value], weight: 2 } : EXCL_STYLE;
  map.pm.enableDraw("Polygon", { snappable: false, pathOptions: style });
}
map.on("pm:create", (e) => {
  const target = drawTarget; drawTarget = null;
  document.querySelectorAll("button.active").forEach((b) => b.classList.remove("active"));
  if (target) $(`${target}-error`).textContent = "";
  if (target === "boundary") { map.removeLayer(e.layer); setField(L.featureGroup([e.layer]), "boundary_drawn"); }
  else if (target === "gt") { map.removeLayer(e.layer); saveTruth(e.layer.toGeoJSON().geometry); }
  else { map.removeLayer(e.layer); addExclusion(e.layer, "drawn"); }
});
async function saveTruth(geometry) {
  const j = currentJob();
  try {
    await api(`/v1/flights/${j.id}/labels`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ label: $("gt-label").value, geometry }) });
    await loadTruth();
  } catch (e) { $("gt-error").textContent = e.message; }
}
map.on("pm:remove", (e) => {
  if (exclusionGroup.hasLayer(e.layer)) exclusionGroup.removeLayer(e.layer);
  if (field && field.getLayers().every((l) => !map.hasLayer(l))) setField(null);
  clearPlan(); showDrawState();
});
map.on("pm:globaleditmodetoggled", clearPlan);
async function readVectorFile(input, errorId) {
  const f = input.files[0];
  $(errorId).textContent = "";
  if (!f) return null;
  const form = new FormData(); form.append("file", f);
  try {
    const fc = await api("/v1/vectors/geojson", { method: "POST", body: form });
    // features a plan will refuse (a self-intersecting outline, swapped coordinates) are said now, not at the plan
    if (fc.warnings && fc.warnings.length) $(errorId).textContent = `${t("file_warnings")} ${f.name}: ${fc.warnings.join("; ")}`;
    return { name: f.name, fc };
  }
  catch (e) { $(errorId).textContent = `${t("err_file")} ${f.name}: ${e.message}`; return null; }
  finally { input.value = ""; }
}
$("draw-boundary").addEventListener("click", () => startDraw("boundary"));
$("draw-exclusion").addEventListener("click", () => startDraw("exclusion"));
$("reset-boundary").addEventListener("click", () => { $("boundary-error").textContent = ""; setField(null); });
$("clear-exclusions").addEventListener("click", () => { exclusionGroup.clearLayers(); clearPlan(); showDrawState(); });
$("boundary-file").addEventListener("change", async () => {
  const got = await readVectorFile($("boundary-file"), "boundary-error");
  if (!got) return;
  const polys = got.fc.features.filter((f) => /Polygon/.test(f.geometry.type));
  if (!polys.length) { $("boundary-error").textContent = `${t("err_file")} ${got.name}: ${t("err_no_polygon")}`; return; }
  setField(L.geoJSON({ type: "FeatureCollection", features: polys }, { style: BOUNDARY_STYLE }), "boundary_file");
});
$("exclusion").addEventListener("change", async () => {
  const got = await readVectorFile($("exclusion"), "exclusion-error");
  if (got) addExclusion(L.geoJSON(got.fc, { style: EXCL_STYLE }), got.name);
});
function exclusionLayers() {
  return exclusionGroup.getLayers().map((l) => {
    const gj = l.toGeoJSON();
    const fc = gj.type === "FeatureCollection" ? gj : { type: "FeatureCollection", features: [gj] };
    return { name: l.cw.name, kind: l.cw.kind, buffer_m: l.cw.buffer_m, geojson: fc };
  });
}
// a number typed either way, 0,3 (Vietnamese) or 0.3: the inputs are text, since a number input in an English
// browser turned "0,3" into 03, a tenfold dose; null when empty, NaN when it is no number
function decimal(id) {
  const s = $(id).value.trim().replace(",", ".");
  if (s === "") return null;
  return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(s) ? Number(s) : NaN;
}
// the form's numbers written as the page's language writes them (21,6 in Vietnamese beside the dose's "0,3"; "21.6"
// stood there before). Only the separator is swapped, never a thousands mark added: "1.000" would read back as 1
function localiseDecimals() {
  const [from, to] = lang === "vi" ? [".", ","] : [",", "."];
  document.querySelectorAll('input[inputmode="decimal"]').forEach((el) => {
    if (/^[+-]?\d+([.,]\d+)?$/.test(el.value.trim())) el.value = el.value.trim().replace(from, to);
    if (el.placeholder) el.placeholder = el.placeholder.replace(from, to);
  });
}
function numbers(ids, optional = []) {
  const out = {};
  for (const id of ids) {
    const v = decimal(id);
    if ((v === null && !optional.includes(id)) || Number.isNaN(v)) {
      $(id).focus();
      throw new Error(t("bad_number").replace("{field}", $(id).closest("label").querySelector("span").textContent)
        .replace("{value}", $(id).value));
    }
    out[id] = v;
  }
  return out;
}
$("plan-btn").addEventListener("click", async () => {
  $("plan-error").textContent = "";
  clearPlan();
  let n;
  try { n = numbers(["swath", "rate", "buffer", "minzone", "flow", "speed", "tank", "dose"], ["dose"]); }
  catch (e) { $("plan-error").textContent = e.message; return; }
  try {
    const dose = n.dose;
    const config = {
      swath_m: n.swath, rate_l_per_ha: n.rate, buffer_m: n.buffer,
      min_zone_area_m2: n.minzone, exclusions: exclusionLayers(), product: $("product").value || null,
      drone: { swath_m: n.swath, flow_l_per_min: n.flow, speed_km_h: n.speed, tank_l: n.tank },
    };
    if (dose !== null && dose > 0) Object.assign(config, { product_dose_per_ha: dose, product_dose_unit: $("dose-unit").value });
    const body = { job_id: Number($("job").value), config };
    if (field) body.boundary = field.toGeoJSON();
    const sm = await api("/v1/spray-maps", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
    showPlan(sm);
  } catch (e) { $("plan-error").textContent = `${t("err_plan")}: ${errText(e)}`; }
});
const CLASS_COLOUR = { none: "#b7e1b0", spot: "rgb(255,180,30)", full: "rgb(255,40,0)" };
function zoneColour(p, top) {
  // the legend's classes; continuous rates shade between the spot and full colours against the configured full rate
  return CLASS_COLOUR[p.rate_class] || rateColour(p.rate, top);
}
function rateColour(r, top) {
  if (r <= 0) return "#b7e1b0";
  const x = 0.25 + 0.75 * r / top;
  return `rgb(255, ${Math.round(220 * (1 - x) + 40 * x)}, ${Math.round(40 * (1 - x))})`;
}
function showPlan(sm) {
  lastMap = sm;
  const top = Math.max(sm.config.max_rate_l_per_ha || sm.config.rate_l_per_ha || 0, 1e-9);
  setLayer("zones", L.geoJSON(sm.zones, {
    pmIgnore: true,
    style: (f) => ({ color: "#555", weight: 0.6, fillColor: zoneColour(f.properties, top),
      fillOpacity: f.properties.rate > 0 ? 0.6 : 0.25 }),  // unsprayed zones let the imagery show
    onEachFeature: (f, l) => l.bindTooltip(`${t("zone")} ${f.properties.zone_id}: ${num(f.properties.rate, 0, 2)} L/ha, ${num(f.properties.area_ha, 0, 4)} ha`),
  }));
  // what the plan left out: the no-spray areas with their buffers, as the server computed them
  setLayer("exclusions", sm.exclusions ? L.geoJSON(sm.exclusions, { pmIgnore: true, interactive: false,
    style: { color: "#1565c0", weight: 2, dashArray: "6 4", fill: false } }) : null);
  updateLegend(sm);
  showSummary(sm);
}
function showSummary(sm) {
  const s = sm.summary;
  const rows = [[t("treated"), `${num(s.treated_area_ha, 0, 4)} ha (${num(s.treated_pct, 0, 2)}%)`],
    [t("volume"), `${num(s.product_volume_l, 0, 2)} L`],
    [t("blanket"), `${num(s.blanket_volume_l, 0, 2)} L`], [t("saving"), `${num(s.saving_pct, 0, 2)}%`]];
  const q = s.product_quantity;
  if (q) {
    rows.push([t("product_field"), `${num(q.per_field, 0, 3)} ${q.unit}`]);
    // per FULL tank (a one-load job needs less: the field's amount above), said so: "6 kg per tank" beside 0,24 kg for
    // the field read as what to mix for this job
    if (q.per_tank != null && s.treated_area_ha > 0) rows.push([t("product_tank").replace("{tank}", num(sm.config.drone ? sm.config.drone.tank_l : 0, 0, 1)), `${num(q.per_tank, 0, 3)} ${q.unit}`]);
  }
  if (s.drone) rows.push([t("flight_time"), `${num(s.drone.flight_time_min, 0, 1)} ${t("minutes")}`], [t("tanks"), String(s.drone.tank_loads)]);
  $("summary-list").innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd data-k="${k}">${v}</dd>`).join("");
  const left = s.damaged_cells_not_sprayed || 0;  // damage the plan leaves unsprayed is said, never silent
  const gap = s.no_imagery_area_ha || 0;  // so is the part of the field without imagery
  const said = [gap ? t("no_imagery").replace("{ha}", num(gap, 2)) : "",
    left ? t("left_out").replace("{n}", left).replace("{total}", s.damaged_cells).replace("{min}", sm.config.min_zone_area_m2) : ""];
  $("summary-warning").hidden = !(left || gap);
  $("summary-warning").textContent = said.filter(Boolean).join(" ");
  $("downloads").innerHTML = Object.keys(sm.downloads).map((f) => `<button type="button" data-format="${f}">${f.toUpperCase()}</button>`).join("");
  $("downloads").querySelectorAll("button").forEach((b) => b.addEventListener("click", () => download(sm, b.dataset.format)));
  $("summary").hidden = false;
}
async function download(sm, fmt) {
  const r = await fetch(sm.downloads[fmt], { headers: { Authorization: `Bearer ${token}` } });  // raw: GeoJSON is a file here
  if (!r.ok) { $("plan-error").textContent = `${t("err_download")} ${fmt}: ${r.statusText}`; return; }
  const name = (r.headers.get("content-disposition") || "").match(/filename="?([^";]+)"?/)?.[1] || `spray_map_${sm.id}.${fmt}`;
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob()); a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
}
$("area").addEventListener("change", areaChanged);
$("job").addEventListener("change", jobChanged);
$("lang").addEventListener("click", () => { lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("cw_lang", lang); applyLang(); });
$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await fetch("/v1/auth/token", { method: "POST", body: new URLSearchParams({ username: $("username").value, password: $("password").value }) });
  if (!r.ok) { $("signin-error").textContent = r.status === 401 ? t("signin_failed") : `${r.status} ${r.statusText}`; return; }
  token = (await r.json()).access_token; sessionStorage.setItem("cw_token", token); start();
});
function start() {
  $("signin").hidden = true; $("work").hidden = false;
  map.invalidateSize();  // on a phone the map moves to the top at a new height once signed in (style.css)
  loadAreas().catch((e) => { $("job-error").textContent = e.message; });
}
const legend = L.control({ position: "bottomright" });
legend.onAdd = () => L.DomUtil.create("div", "legend");
function updateLegend(sm) {
  // the classes of the plan on screen with their rates, in the colours the zones are drawn with
  const c = sm ? sm.config : { rate_l_per_ha: decimal("rate") || 0 };
  const full = c.rate_l_per_ha, spot = c.spot_rate_l_per_ha || full / 2;
  const rows = [[CLASS_COLOUR.none, `0 L/ha (${t("lg_none")})`], [CLASS_COLOUR.spot, `${num(spot, 0, 2)} L/ha (${t("lg_spot")})`],
    [CLASS_COLOUR.full, `${num(full, 0, 2)} L/ha (${t("lg_full")})`]];
  if (sm && sm.config.rate_mode === "continuous") rows.splice(1, 2, [rateColour(full, full), `≤ ${num(full, 0, 2)} L/ha`]);
  const el = legend.getContainer();
  if (el) el.innerHTML = rows.map(([col, txt]) => `<i style="background:${col}"></i>${txt}`).join("<br>") +
    `<br><i style="border:2px dashed #1565c0"></i>${t("lg_excl")}`;
}
legend.addTo(map);
applyLang();
if (token) start();
