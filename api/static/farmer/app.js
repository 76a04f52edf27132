// cropwatch farmer page: sign in, send a photo, show the diagnosis and the area's history. No build step.
"use strict";
const T = {
  vi: {
    title: "Chẩn đoán lá lúa", signin: "Đăng nhập", username: "Tên đăng nhập", password: "Mật khẩu",
    signin_btn: "Đăng nhập", take_photo: "Chụp ảnh lá", area: "Vùng trồng", choose: "Chụp hoặc chọn ảnh",
    photo_tip: "Chụp gần một lá bị bệnh, ở chỗ râm, không để nắng chiếu thẳng. Nếu có giấy trắng, đặt một tờ phía sau lá; đừng chụp trên nền rơm khô hay đất.",
    no_areas: "Bạn chưa có vùng trồng nào nên chưa gửi ảnh được. Hãy nhờ cán bộ khuyến nông hoặc hợp tác xã đăng ký mã số vùng trồng cho bạn, rồi tải lại trang.",
    no_photo: "Chưa chọn ảnh",
    send: "Gửi ảnh", result: "Kết quả", history: "Lịch sử vùng trồng", signout: "Đăng xuất",
    uploading: "Đang gửi ảnh…", analysing: "Đang phân tích…", bad_login: "Sai tên đăng nhập hoặc mật khẩu",
    session_ended: "Phiên đăng nhập đã hết. Hãy đăng nhập lại rồi bấm Gửi ảnh: ảnh bạn chọn vẫn còn.",
    maybe: "Có thể là", or: "hoặc", confidence: "Độ tin cậy", severity: "Mức bệnh (thang SES 0-9)", leaf_area: "diện tích lá",
    lesions_caption: "Phần đã đo: lá (viền trắng), vết bệnh (màu hồng)", lesions_alt: "Ảnh lá với các vết bệnh đã đo tô màu hồng",
    lesions_loading: "Đang tải hình phần đã đo…", growth: "Sinh trưởng",
    leaf_colour: "màu lá, mức bảng so màu", canopy_cover: "độ che phủ xanh", no_history: "Chưa có ảnh nào.",
    history_failed: "Chưa tải được lịch sử (mạng yếu?); kết quả ở trên đã được lưu. Tải lại trang để xem.",
    fb_question: "Kết quả này đúng không?", fb_right: "Đúng", fb_wrong: "Sai, đó là…", fb_what: "Đó là gì?",
    growth_title: "Sinh trưởng theo thời gian", days_after_sowing: "ngày sau sạ", sown_on: "sạ ngày", date: "ngày", photo: "ảnh", flight: "chuyến bay", photos: "ảnh", flights: "chuyến bay",
    sprayed: "Đã phun thuốc", harvest_from: "thu hoạch từ",
    no_growth: "Chưa có điểm sinh trưởng nào.", damaged: "thiệt hại", spray_map: "bản đồ phun", saving: "tiết kiệm",
    record_book: "Tải nhật ký canh tác (PDF)",
    detail: "Hướng dẫn chi tiết (có nguồn trích dẫn)", sources: "Nguồn", review: "Tình trạng duyệt",
    withheld: "Tên hoạt chất thuốc chưa hiện vì hướng dẫn này chưa được kỹ sư nông học duyệt: hãy hỏi cán bộ khuyến nông trước khi mua thuốc.",
    sections: { cultural: "Biện pháp canh tác", chemical_when: "Khi nào cần dùng thuốc", active_ingredients: "Hoạt chất được khuyến cáo (phải có trong Danh mục được phép)",
      phi: "Thời gian cách ly", ppe: "Bảo hộ lao động", check: "Cần kiểm tra", call: "Liên hệ" },
    fb_it_is: "Theo tôi đó là", fb_other_name: "Tên bệnh hoặc sâu hại",
    fb_other_needed: "Hãy ghi tên bệnh hoặc sâu hại mà bạn thấy, rồi bấm Gửi.", fb_send: "Gửi", fb_thanks: "Cảm ơn! Cán bộ nông nghiệp sẽ xem lại.",
    no_spots: "Không có vết bệnh nào mô hình nhận ra được: hãy chụp gần, rõ nét vào chỗ lá bị bệnh, hoặc hỏi cán bộ khuyến nông.",
    errors: {
      photo_empty: "Tệp ảnh trống: hãy chọn lại ảnh rồi gửi.",
      photo_too_many_bytes: "Ảnh quá nặng: hãy gửi ảnh chụp bằng camera của điện thoại.",
      not_a_photo: "Tệp này không phải ảnh JPEG, PNG, WebP hay HEIC: hãy chụp ảnh bằng camera của điện thoại.",
      heic_unsupported: "Chưa đọc được ảnh HEIC: hãy đặt camera ở chế độ \"Tương thích nhất\" (JPEG).",
      photo_too_many_pixels: "Ảnh có quá nhiều điểm ảnh: hãy gửi ảnh chụp bình thường của điện thoại.",
      photo_unreadable: "Không đọc được ảnh: hãy gửi ảnh gốc.",
      photo_too_small: "Ảnh quá nhỏ: hãy chụp gần hơn, ảnh đầy đủ kích thước.",
      upload_key_reused: "Ảnh này đã được gửi với một lựa chọn khác: hãy chọn lại ảnh rồi gửi.",
      photo_damaged: "Ảnh bị hỏng hoặc gửi chưa hết: hãy gửi lại ảnh.",
      no_area_given: "Hãy chọn vùng trồng, hoặc bật vị trí cho camera.",
      outside_every_area: "Vị trí của ảnh nằm ngoài các vùng trồng của bạn: hãy chọn vùng trồng.",
      network: "Lỗi mạng: chưa nhận được kết quả. Hãy gửi lại: ảnh đã tới máy chủ sẽ không bị lưu hai lần.",
    },
    labels: { bacterial_leaf_blight: "Bệnh bạc lá", blast: "Bệnh đạo ôn", brown_spot: "Bệnh đốm nâu", unsure: "Chưa chắc chắn" },
    status: { no_symptom: "Không thấy triệu chứng bệnh", retake: "Cần chụp lại ảnh", field_patch: "Ảnh khoảnh ruộng" },
  },
  en: {
    title: "Rice leaf check", signin: "Sign in", username: "Username", password: "Password",
    signin_btn: "Sign in", take_photo: "Photograph a leaf", area: "Growing area", choose: "Take or choose a photo",
    photo_tip: "One diseased leaf, close, in the shade, out of direct sun. If you have white paper, hold a sheet behind the leaf; do not photograph it against dry straw or soil.",
    no_areas: "You have no growing area yet, so no photo can be sent. Ask your extension officer or cooperative to register your planting-area code, then reload the page.",
    no_photo: "No photo chosen",
    send: "Send photo", result: "Result", history: "History of this area", signout: "Sign out",
    uploading: "Sending photo…", analysing: "Analysing…", bad_login: "Wrong username or password",
    session_ended: "Your sign-in has ended. Sign in again, then tap Send photo: your chosen photo is kept.",
    maybe: "It may be", or: "or", confidence: "Confidence", severity: "Severity (SES 0-9)", leaf_area: "of leaf area",
    lesions_caption: "What was measured: the leaf (white outline), lesions (pink)", lesions_alt: "The leaf with the lesions measured tinted pink",
    lesions_loading: "Loading the picture of what was measured…", growth: "Growth",
    leaf_colour: "leaf colour, chart level", canopy_cover: "green canopy cover", no_history: "No photos yet.",
    history_failed: "The history could not be loaded (weak signal?); the result above is saved. Reload the page to see it.",
    fb_question: "Is this right?", fb_right: "Right", fb_wrong: "Wrong, it is…", fb_what: "What is it?",
    growth_title: "Growth over time", days_after_sowing: "days after sowing", sown_on: "sown on", date: "date", photo: "photo", flight: "flight", photos: "photos", flights: "flights",
    sprayed: "Sprayed", harvest_from: "harvest from",
    no_growth: "No growth reading yet.", damaged: "damaged", spray_map: "spray map", saving: "saving",
    record_book: "Download the record book (PDF)",
    detail: "Detailed guidance (with cited sources)", sources: "Sources", review: "Review status",
    withheld: "Names of active ingredients are not shown until an agronomist has reviewed this guidance: ask your extension officer before buying a pesticide.",
    sections: { cultural: "Cultural measures", chemical_when: "When chemical control is warranted", active_ingredients: "Active ingredients named (must be on the permitted list)",
      phi: "Pre-harvest interval", ppe: "Protective equipment", check: "What to check", call: "Whom to call" },
    fb_it_is: "I think it is", fb_other_name: "Name of the disease or pest",
    fb_other_needed: "Write the name of the disease or pest you see, then tap Send.", fb_send: "Send", fb_thanks: "Thank you! An agronomist will check it.",
    no_spots: "No spot the model can judge: take a close, sharp photo of the diseased part of the leaf, or ask an extension officer.",
    errors: {
      photo_empty: "The file is empty: choose the photo again and send it.",
      photo_too_many_bytes: "The photo is too heavy: send the photo as the phone's camera took it.",
      not_a_photo: "This file is not a JPEG, PNG, WebP or HEIC photo: take a photo with the phone's camera.",
      heic_unsupported: "HEIC photos cannot be read yet: set the camera to 'Most compatible' (JPEG).",
      photo_too_many_pixels: "The photo has too many pixels: send a normal phone photo.",
      photo_unreadable: "The photo cannot be read: send the original photo.",
      photo_too_small: "The photo is too small: move closer and take a full-size photo.",
      upload_key_reused: "This photo was sent with another choice: choose the photo again and send it.",
      photo_damaged: "The photo is damaged or did not arrive whole: send it again.",
      no_area_given: "Choose the growing area, or turn on location for the camera.",
      outside_every_area: "The photo's location is outside your growing areas: choose the area.",
      network: "Network error: no result came back. Send it again: a photo the server already has is not recorded twice.",
    },
    labels: { bacterial_leaf_blight: "Bacterial leaf blight", blast: "Blast", brown_spot: "Brown spot", unsure: "Unsure" },
    status: { no_symptom: "No disease symptom visible", retake: "Please retake the photo", field_patch: "Field patch photo" },
  },
};
let lang = localStorage.getItem("cw_lang") || "vi";
let token = sessionStorage.getItem("cw_token");
let lastResult = null, lastPhotoId = null, labelList = [];
let recordsZone;  // the server's zone of local times (GET /health), e.g. Asia/Ho_Chi_Minh; undefined: the phone's
const zoneKnown = fetch("/health").then((r) => r.json()).then((h) => {
  try { new Date().toLocaleString("en-GB", { timeZone: h.time_zone }); recordsZone = h.time_zone; } catch (_) { /* a zone this browser lacks */ }
}).catch(() => {});
let lastError = null;  // {reason, detail} of the last upload error, said again on a language switch
let fbDone = null;  // "fb_thanks" once the feedback is sent, so the language switch says it again
const $ = (id) => document.getElementById(id);
const t = (k) => T[lang][k];
// a number as the page's language writes it (Vietnamese: decimal comma, 18,9), at most `digits` decimals
const num = (x, digits = 1) => Number(x).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { maximumFractionDigits: digits });

function applyLang() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("lang").textContent = lang === "vi" ? "EN" : "VI";
  if (lastResult) showResult(lastResult);
  if (fbDone) $("fb-done").textContent = t(fbDone);
  if (lastError) $("upload-error").textContent = uploadErrorText(lastError);
  showPhotoName();
  if (token && $("area").value) refreshHistory();
}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {}, token ? { Authorization: `Bearer ${token}` } : {});
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401 && token) { signOut(); throw new Error(t("bad_login")); }
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}

function labelText(d) {
  if (d.status in T[lang].status && d.status !== "diagnosed") return T[lang].status[d.status] || t("labels").unsure;
  return T[lang].labels[d.label] || d.label;
}

function showResult(res) {
  lastResult = res;
  const d = res.diagnosis, s = res.severity, g = res.growth;
  $("diagnosis").textContent = labelText(d);
  $("diagnosis").dataset.label = d.label;
  // an unsure answer never shows one confident name: the two likeliest diseases and what to look at instead
  const cands = d.status === "unsure" ? (d.candidates || []) : [];
  $("confidence").textContent = d.status === "diagnosed" ? `${t("confidence")}: ${Math.round(d.confidence * 100)}%` : "";
  const box = $("candidates");
  box.replaceChildren();
  if (cands.length) {
    const head = document.createElement("p");
    // names only, likeliest first: a percentage beside "unsure" read as a confident diagnosis ("Chưa chắc chắn ... Bệnh
    // đạo ôn (94%)" on a brown spot leaf; the model abstained because the spots look unlike its training lesions)
    head.textContent = `${t("maybe")}: ` + cands.map((c) => T[lang].labels[c.label] || c.label).join(` ${t("or")} `);
    box.appendChild(head);
  } else if (d.status === "unsure") {
    const p = document.createElement("p");
    p.textContent = t("no_spots");  // nothing to rank: say what to photograph, not two names at 33 % each
    box.appendChild(p);
  }
  if (d.status === "unsure") {  // what to look at: the likeliest diseases' signs, and those of what the model does not know
    const list = document.createElement("ul");
    for (const text of [...cands.map((c) => c.look_for), d.look_for_other]) {
      if (!text) continue;
      const li = document.createElement("li");
      li.textContent = text[lang];
      list.appendChild(li);
    }
    if (list.childElementCount) box.appendChild(list);
  }
  box.hidden = !box.childElementCount;
  $("severity").textContent = s.ses === null ? "" : `${t("severity")}: ${s.ses} (${num(s.affected_pct)}% ${t("leaf_area")})`;
  showLesions(s.ses === null ? null : lastPhotoId);
  $("growth").textContent = g.score === null ? "" :
    `${t("growth")}: ${g.score}/100 (${t(g.method)}${g.lcc_level ? " " + g.lcc_level : ""})`;
  $("advice").textContent = res.advice[lang];
  showDetail(res.advice_detail);
  $("result").hidden = false;
  showFeedback(d);
}

// the cited guidance under the short advice: sections of items, each with its source number, then the sources
function showDetail(det) {
  const body = $("detail-body");
  body.replaceChildren();
  $("advice-detail").hidden = !det;
  if (!det) return;
  const keys = Object.keys(det.sources), ref = (src) => `[${keys.indexOf(src) + 1}]`;
  for (const sec of ["cultural", "chemical_when", "active_ingredients", "phi", "ppe", "check", "call"]) {
    if (!det[sec] || !det[sec].length) continue;
    const h = document.createElement("h3"); h.textContent = T[lang].sections[sec]; body.appendChild(h);
    const ul = document.createElement("ul");
    for (const it of det[sec]) { const li = document.createElement("li"); li.textContent = `${it.name || it[lang]} ${ref(it.source)}`; ul.appendChild(li); }
    body.appendChild(ul);
  }
  if ((det.withheld || []).includes("active_ingredients")) { const p = document.createElement("p"); p.className = "advice withheld"; p.textContent = t("withheld"); body.appendChild(p); }
  if (det.follow_label) { const p = document.createElement("p"); p.className = "advice"; p.textContent = `${det.follow_label[lang]} ${ref(det.follow_label.source)}`; body.appendChild(p); }
  const h = document.createElement("h3"); h.textContent = t("sources"); body.appendChild(h);
  const ol = document.createElement("ol");
  keys.forEach((k) => { const s = det.sources[k], li = document.createElement("li"), a = document.createElement("a");
    a.href = s.url; a.target = "_blank"; a.rel = "noopener"; a.textContent = s.title; li.append(a, s.publisher ? ` – ${s.publisher}` : ""); ol.appendChild(li); });
  body.appendChild(ol);
  const rv = document.createElement("p"); rv.className = "hint";
  const status = (lang === "vi" && det.review.status_vi) || det.review.status;  // the data's own words, translated
  rv.textContent = `${t("review")}: ${status}${det.review.reviewed_by ? `, ${det.review.reviewed_by} (${det.review.reviewed_on})` : ""}`;
  body.appendChild(rv);
}

// "right / wrong, it is ..." after each result: labels from the class registry (names in both languages)
async function showFeedback(d) {
  // a photo to take again has no answer to judge: no "is this right?" under "retake the photo"
  $("feedback").hidden = d.status === "retake";
  if (d.status === "retake") return;
  $("fb-right").disabled = $("fb-wrong").disabled = fbDone === "fb_thanks";  // said once per photo
  const answered = d.status === "diagnosed";
  $("fb-right").hidden = !answered;
  $("fb-wrong").textContent = answered ? t("fb_wrong") : t("fb_what");
  $("fb-form").hidden = true;
  if (!labelList.length) labelList = await api("/v1/labels").catch(() => []);
  const sel = $("fb-label"), keep = sel.value;
  sel.replaceChildren();
  const order = ["disease", "pest", "healthy", "unsure", "other"];
  for (const l of [...labelList].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))) {
    if (answered && l.name === d.label) continue;
    const o = document.createElement("option"); o.value = l.name; o.textContent = lang === "vi" ? l.name_vi : l.name_en;
    sel.appendChild(o);
  }
  if (keep) sel.value = keep;
  $("fb-other").hidden = sel.value !== "other";
}

async function sendFeedback(body) {
  fbDone = null; $("fb-done").textContent = "";
  try {
    await api(`/v1/photos/${lastPhotoId}/feedback`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
    fbDone = "fb_thanks"; $("fb-done").textContent = t("fb_thanks"); $("fb-form").hidden = true;
    $("fb-right").disabled = $("fb-wrong").disabled = true;  // said once per photo (the next photo enables them)
  } catch (e) { fbDone = null; $("fb-done").textContent = e.message; }
}

async function loadAreas() {
  const page = await api("/v1/areas?limit=500&status=active");
  $("area").innerHTML = "";
  for (const a of page.items) {
    const o = document.createElement("option");
    o.value = a.code; o.textContent = `${a.code} – ${a.name}`;
    $("area").appendChild(o);
  }
  // a farmer with no area yet: said why, and nothing to send (an empty list and a send that failed said nothing)
  const none = !page.items.length;
  $("no-areas").hidden = !none;
  $("area").disabled = $("photo").disabled = $("send").disabled = none;
}

// the history, or on a dropped link a line that says so (it stayed silently stale before)
function refreshHistory() {
  return loadHistory().catch(() => {
    $("history-list").querySelector("li.history-failed")?.remove();  // one such line, not one per failure
    const li = document.createElement("li"); li.className = "hint history-failed"; li.textContent = t("history_failed");
    $("history-list").prepend(li);
  });
}

async function loadHistory() {
  const code = $("area").value;
  if (!code) return;
  await zoneKnown;  // the history's times are drawn in the records' zone, so it must be known first
  const c = encodeURIComponent(code);
  const [obs, maps, growth, sprays] = await Promise.all([api(`/v1/areas/${c}/observations?source=photo&limit=20`),
    api(`/v1/areas/${c}/spray-maps`).catch(() => []), api(`/v1/areas/${c}/growth`).catch(() => ({ points: [] })),
    api(`/v1/areas/${c}/spray-applications`).catch(() => [])]);
  // times in the records' zone (the record book's), not the phone's: a spray at 07:30 read 00:30 on a UTC phone
  const ul = $("history-list"), items = [], when = (iso) => new Date(iso).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB",
    { timeZone: recordsZone, day: "numeric", month: "numeric", year: "numeric", hour: "2-digit", minute: "2-digit" });
  const item = (iso, url, title, text) => {  // a history line: thumbnail (opens the full image) and text
    const li = document.createElement("li");
    if (url) {
      const img = document.createElement("img");
      img.alt = ""; img.title = title;
      authBlob(url.thumb).then((u) => { if (u) img.src = u; });
      img.addEventListener("click", async () => { const u = await authBlob(url.full); if (u) window.open(u, "_blank"); });
      li.append(img);
    }
    li.append(`${when(iso)} · ${text}`);
    items.push([iso, li]);
  };
  for (const o of obs) {
    const d = o.scores.diagnosis, s = o.scores.severity, g = o.scores.growth;
    item(o.observed_at, { thumb: `/v1/photos/${o.id}/thumbnail`, full: `/v1/photos/${o.id}/image` }, t("photo"),
      labelText(d) + (s.ses !== null ? ` · SES ${s.ses}` : "") + (g.score !== null ? ` · ${t("growth")} ${num(g.score)}` : ""));
  }
  for (const p of growth.points.filter((q) => q.source === "drone" && q.preview_url)) {
    item(p.observed_at, { thumb: p.preview_url, full: p.preview_url }, t("flight"),
      `${t("flight")} · ${t("growth")} ${p.growth_score != null ? num(p.growth_score) : "–"}` + (p.damaged_pct != null ? ` · ${t("damaged")} ${num(p.damaged_pct)}%` : ""));
  }
  for (const m of maps) {
    item(m.created_at, { thumb: m.preview, full: m.preview }, t("spray_map"),
      `${t("spray_map")} · ${num(m.summary.treated_area_ha, 2)} ha · ${t("saving")} ${Math.round(m.summary.saving_pct)}%`);
  }
  for (const a of sprays) {  // the pesticide log: what was sprayed, and from when the crop may be harvested
    const harvest = a.harvest_allowed_from ? ` · ${t("harvest_from")} ${new Date(a.harvest_allowed_from).toLocaleDateString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "UTC" })}` : "";
    item(a.applied_on, null, t("sprayed"), `${t("sprayed")} · ${a.product} · ${num(a.volume_l)} L${harvest}`);
  }
  ul.innerHTML = "";
  if (!items.length) { ul.innerHTML = `<li>${t("no_history")}</li>`; }
  items.sort((a, b) => Date.parse(b[0]) - Date.parse(a[0])).forEach(([, li]) => ul.appendChild(li));  // times carry zones
  const book = document.createElement("li"), a = document.createElement("a");
  a.href = "#"; a.textContent = t("record_book");
  a.addEventListener("click", async (ev) => { ev.preventDefault(); const u = await authBlob(`/v1/areas/${c}/record-book?format=pdf`); if (u) window.open(u, "_blank"); });
  book.appendChild(a); ul.appendChild(book);
  $("history").hidden = false;
  loadGrowth(code).catch(() => { $("growth-card").hidden = true; });
}

// what the severity measured (the leaf outlined, its lesions in pink), so a farmer can see when straw or another leaf
// was counted; fetched once per photo
let lesionsShown = { id: null, url: null };
async function showLesions(id) {
  const fig = $("lesions"), img = $("lesions-img"), cap = fig.querySelector("figcaption");
  img.alt = t("lesions_alt");
  if (lesionsShown.id !== id) {  // another photo (or none): forget the drawing shown, and any still on its way
    if (lesionsShown.url) URL.revokeObjectURL(lesionsShown.url);
    lesionsShown = { id, url: null };
    img.removeAttribute("src");
    fig.hidden = id === null;
    if (id === null) return;
    fig.classList.add("loading"); cap.textContent = t("lesions_loading");  // on a slow link: say it is coming
    let url = null;
    try { url = await authBlob(`/v1/photos/${id}/lesions.jpg`); } catch { url = null; }
    if (lesionsShown.id !== id) { if (url) URL.revokeObjectURL(url); return; }  // a newer photo came first
    fig.classList.remove("loading");
    if (!url) { fig.hidden = true; lesionsShown = { id: null, url: null }; return; }  // tried again on the next call
    lesionsShown.url = url;
  }
  if (id === null) return;
  if (lesionsShown.url) { img.src = lesionsShown.url; fig.hidden = false; cap.textContent = t("lesions_caption"); }
  else cap.textContent = t("lesions_loading");  // still on its way (the language was switched meanwhile)
}

// images behind the sign-in: fetched with the token, shown as object URLs
async function authBlob(url) {
  const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  return r.ok ? URL.createObjectURL(await r.blob()) : null;
}

// the growth score of every photo (circles) and flight (squares) over days after sowing (or dates), as an SVG chart
async function loadGrowth(code) {
  const g = await api(`/v1/areas/${encodeURIComponent(code)}/growth`);
  const pts = g.points.filter((p) => p.growth_score !== null);
  const svg = $("growth-chart"), NS = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  $("growth-card").hidden = false;
  if (!pts.length) { $("growth-note").textContent = t("no_growth"); return; }
  const useDays = pts.every((p) => p.days_after_sowing !== null);
  const xs = pts.map((p) => (useDays ? p.days_after_sowing : Date.parse(p.observed_at) / 864e5));
  // every point on one day (or one instant): centred on the axis, not stacked on its left edge
  const same = Math.max(...xs) - Math.min(...xs) < 1e-9;
  const x0 = same ? xs[0] - 1 : Math.min(...xs), x1 = same ? xs[0] + 1 : Math.max(...xs);
  const X = (v) => 30 + ((v - x0) / (x1 - x0)) * 280, Y = (v) => 150 - v * 1.4;
  const el = (tag, attrs, text) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; svg.appendChild(e); return e; };
  for (const v of [0, 50, 100]) { el("line", { x1: 30, x2: 310, y1: Y(v), y2: Y(v), stroke: "#dde5d8" }); el("text", { x: 4, y: Y(v) + 3 }, v); }
  el("polyline", { points: pts.map((p, i) => `${X(xs[i])},${Y(p.growth_score)}`).join(" "), fill: "none", stroke: "#2f6b2f", "stroke-width": 1.5 });
  pts.forEach((p, i) => {
    const title = `${p.observed_at.slice(0, 10)} · ${t(p.source === "drone" ? "flight" : "photo")} · ${t("growth")} ${num(p.growth_score)}` +
      (p.canopy_cover_pct !== null ? ` · ${t("canopy_cover")} ${num(p.canopy_cover_pct)}%` : "");
    const m = p.source === "drone" ? el("rect", { x: X(xs[i]) - 4, y: Y(p.growth_score) - 4, width: 8, height: 8, fill: "#45617a", class: "pt-flight" })
      : el("circle", { cx: X(xs[i]), cy: Y(p.growth_score), r: 4, fill: "#7b3294", class: "pt-photo" });
    const tt = document.createElementNS(NS, "title"); tt.textContent = title; m.appendChild(tt);
  });
  const first = useDays ? xs[0] : pts[0].observed_at.slice(0, 10), last = pts[pts.length - 1];
  if (same || (!useDays && first === last.observed_at.slice(0, 10))) el("text", { x: 170, y: 166, "text-anchor": "middle" }, `${first}${useDays ? " " + t("days_after_sowing") : ""}`);
  else {
    el("text", { x: 30, y: 166 }, `${useDays ? x0 : first}`);
    el("text", { x: 310, y: 166, "text-anchor": "end" }, `${useDays ? x1 + " " + t("days_after_sowing") : last.observed_at.slice(0, 10)}`);
  }
  $("growth-note").textContent = `${g.n_photos} ${t(g.n_photos === 1 ? "photo" : "photos")} · ${g.n_flights} ${t(g.n_flights === 1 ? "flight" : "flights")}` +
    (g.sowing_date ? ` · ${t("sown_on")} ${new Date(g.sowing_date).toLocaleDateString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "UTC" })}` : "");
}

function signedIn() {
  $("signin").hidden = true; $("upload").hidden = false; $("signout").hidden = false;
  loadAreas().then(loadHistory).catch((e) => { $("upload-error").textContent = e.message; });
}

function signOut() {
  // a shared phone: nothing of this farmer stays on the page (the language switch re-draws lastResult)
  token = null; sessionStorage.removeItem("cw_token");
  lastResult = null; lastPhotoId = null; lastError = null; fbDone = null;
  showLesions(null);
  $("signin").hidden = false; $("upload").hidden = true; $("result").hidden = true; $("history").hidden = true;
  $("growth-card").hidden = true; $("signout").hidden = true;
  $("password").value = ""; $("photo").value = ""; showPhotoName(); $("preview").hidden = true; $("upload-error").textContent = "";
  $("history-list").replaceChildren(); $("fb-done").textContent = "";
  $("no-areas").hidden = true; $("area").disabled = $("photo").disabled = $("send").disabled = false;  // the next farmer's
}

function sessionEnded() {
  // the sign-in expired (12 h) or was ended elsewhere while the farmer chose a photo: sign in again, in the page's
  // language, and the chosen photo stays chosen (same key: a send that did arrive is not recorded twice)
  token = null; sessionStorage.removeItem("cw_token");
  $("signin").hidden = false; $("upload").hidden = true; $("signout").hidden = true; $("password").value = "";
  $("signin-error").textContent = t("session_ended");
  $("signin").scrollIntoView({ behavior: "smooth" });
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("signin-error").textContent = "";
  try {
    const body = new URLSearchParams({ username: $("username").value, password: $("password").value });
    const r = await fetch("/v1/auth/token", { method: "POST", body });
    if (!r.ok) throw new Error(t("bad_login"));
    token = (await r.json()).access_token;
    sessionStorage.setItem("cw_token", token);
    signedIn();
  } catch (e) { $("signin-error").textContent = e.message; }
});

// one key per photo chosen: sending it again (a dropped link, a second tap) returns the first record, not a second
let uploadKey = null;
let prepared = null;  // {key, photo}: the photo as shrunk for that key, sent again byte for byte
const newKey = () => (window.crypto && crypto.randomUUID ? crypto.randomUUID()
  : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`);

// the chosen photo's name under the button (the browser's own "No file chosen" was English)
function showPhotoName() {
  const f = $("photo").files && $("photo").files[0];
  $("photo-name").textContent = f ? f.name : t("no_photo");
}
$("photo").addEventListener("change", () => {
  const f = $("photo").files[0];
  showPhotoName();
  uploadKey = f ? newKey() : null; prepared = null;
  if (!f) return;
  $("preview").src = URL.createObjectURL(f); $("preview").hidden = false;
});

$("area").addEventListener("change", refreshHistory);
$("fb-right").addEventListener("click", () => sendFeedback({ verdict: "right" }));
$("fb-wrong").addEventListener("click", () => { $("fb-form").hidden = false; });
$("fb-label").addEventListener("change", () => { $("fb-other").hidden = $("fb-label").value !== "other"; });
$("fb-send").addEventListener("click", () => {
  const label = $("fb-label").value;
  const body = { label, verdict: lastResult && lastResult.diagnosis.status === "diagnosed" ? "wrong" : undefined };
  if (label === "other") {
    body.other_name = $("fb-other-name").value.trim();
    if (!body.other_name) {  // said here, in the page's language, not as the API's English refusal
      $("fb-done").textContent = t("fb_other_needed"); $("fb-other-name").focus(); return;
    }
  }
  sendFeedback(body);
});

// EXIF GPS (degrees) and the phone's make and model of a JPEG, read before the photo is shrunk: re-encoding drops
// the EXIF block.
async function exifInfo(file) {
  const v = new DataView(await file.slice(0, 256 * 1024).arrayBuffer());
  if (v.byteLength < 4 || v.getUint16(0) !== 0xffd8) return null;
  for (let o = 2; o + 4 < v.byteLength;) {
    const marker = v.getUint16(o), len = v.getUint16(o + 2);
    if (marker === 0xffe1 && v.getUint32(o + 4) === 0x45786966) {  // "Exif"
      const t = o + 10, le = v.getUint16(t) === 0x4949;
      const u16 = (a) => v.getUint16(t + a, le), u32 = (a) => v.getUint32(t + a, le);
      const tag = (ifd, id) => { for (let i = 0, n = u16(ifd); i < n; i++) { const e = ifd + 2 + 12 * i; if (u16(e) === id) return e; } return null; };
      const ascii = (id) => { const e = tag(u32(4), id); if (e === null) return "";
        const n = u32(e + 4), at = n <= 4 ? t + e + 8 : t + u32(e + 8); let out = "";
        for (let i = 0; i < n && at + i < v.byteLength; i++) { const c = v.getUint8(at + i); if (c) out += String.fromCharCode(c); }
        return out.trim(); };
      const make = ascii(0x010f), model = ascii(0x0110);
      const device = (model.toLowerCase().startsWith(make.toLowerCase()) ? model : `${make} ${model}`).trim() || null;
      const gpsEntry = tag(u32(4), 0x8825);
      if (gpsEntry === null) return { device };
      const gps = u32(gpsEntry + 8);
      const deg = (id) => { const e = tag(gps, id); if (e === null) return null; const a = u32(e + 8);
        const r = (k) => u32(a + 8 * k) / u32(a + 8 * k + 4); return r(0) + r(1) / 60 + r(2) / 3600; };
      const ref = (id) => { const e = tag(gps, id); return e === null ? "" : String.fromCharCode(v.getUint8(t + e + 8)); };
      const lat = deg(2), lon = deg(4);
      if (lat === null || lon === null || !isFinite(lat) || !isFinite(lon)) return { device };
      return { device, lat: ref(1) === "S" ? -lat : lat, lon: ref(3) === "W" ? -lon : lon };
    }
    if ((marker & 0xff00) !== 0xff00) break;
    o += 2 + len;
  }
  return null;
}

// Shrink on the phone before upload: long side 1600 px, JPEG quality 0.85, upright (EXIF orientation applied);
// a 4 MB camera photo becomes ~300 KB on a slow rural link. The GPS travels as form fields.
const MAX_SIDE = 1600;
async function preparePhoto(file) {
  const gps = await exifInfo(file).catch(() => null);
  try {
    const bmp = await createImageBitmap(file, { imageOrientation: "from-image" });
    const s = Math.min(1, MAX_SIDE / Math.max(bmp.width, bmp.height));
    if (s === 1 && file.size < 1.5e6) return { blob: file, name: file.name, gps };
    const c = document.createElement("canvas");
    c.width = Math.round(bmp.width * s); c.height = Math.round(bmp.height * s);
    c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
    const blob = await new Promise((res) => c.toBlob(res, "image/jpeg", 0.85));
    return blob ? { blob, name: "photo.jpg", gps } : { blob: file, name: file.name, gps };
  } catch (_) {
    return { blob: file, name: file.name, gps };  // a format the browser cannot draw (HEIC): the server decodes it
  }
}

$("photo-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = $("photo").files[0];
  if (!f) return;
  $("send").disabled = true; $("photo").disabled = true;  // the preview stays the photo being sent
  if (!uploadKey) uploadKey = newKey();
  if (!prepared || prepared.key !== uploadKey) prepared = { key: uploadKey, photo: await preparePhoto(f) };
  const photo = prepared.photo;
  const form = new FormData();
  form.append("file", photo.blob, photo.name);
  form.append("area_code", $("area").value);
  if (photo.gps && photo.gps.lat !== undefined) { form.append("lat", photo.gps.lat.toFixed(7)); form.append("lon", photo.gps.lon.toFixed(7)); }
  if (photo.gps && photo.gps.device) form.append("device", photo.gps.device.slice(0, 100));
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/photos");
  xhr.setRequestHeader("Authorization", `Bearer ${token}`);
  xhr.setRequestHeader("Idempotency-Key", uploadKey);
  // a stalled link: no upload progress for 90 s, or no answer 150 s after the last byte (a scoring slot waits up to
  // 60 s); said instead of "analysing" for ever. A slow but moving upload is never cut.
  let lastMove = Date.now(), sent = false;
  const watchdog = setInterval(() => {
    if (Date.now() - lastMove > (sent ? 150000 : 90000)) { clearInterval(watchdog); xhr.abort(); }
  }, 5000);
  $("progress").hidden = false; $("send").disabled = true; $("upload-error").textContent = ""; lastError = null;
  $("bar").value = 0; $("progress-text").textContent = t("uploading");
  xhr.upload.onprogress = (e) => {
    lastMove = Date.now(); if (e.loaded === e.total) sent = true;
    if (e.lengthComputable) $("bar").value = Math.round((e.loaded / e.total) * 90);
    if (e.loaded === e.total) { $("progress-text").textContent = t("analysing"); $("bar").removeAttribute("value"); }
  };
  xhr.onloadend = () => clearInterval(watchdog);
  xhr.onload = () => {
    $("progress").hidden = true; $("send").disabled = false; $("photo").disabled = false;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    if (xhr.status === 201 || xhr.status === 200) { lastPhotoId = body.id; fbDone = null; $("fb-done").textContent = ""; showResult(body.result); $("result").scrollIntoView({ behavior: "smooth" }); refreshHistory(); }
    else if (xhr.status === 401) { sessionEnded(); }
    else { showUploadError({ reason: body.reason, detail: body.detail || xhr.statusText }); }
  };
  xhr.onerror = xhr.onabort = () => { $("progress").hidden = true; $("send").disabled = false; $("photo").disabled = false; showUploadError({ reason: "network", detail: "network error" }); };
  xhr.send(form);
});

function uploadErrorText(e) { return (e.reason && t("errors")[e.reason]) || e.detail; }
function showUploadError(e) {
  // the result card of an earlier photo must not stand under the error as if it were this photo's
  lastResult = null; $("result").hidden = true;
  lastError = e;
  $("upload-error").textContent = uploadErrorText(e);
}

$("lang").addEventListener("click", () => {
  lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("cw_lang", lang); applyLang();
});
$("signout").addEventListener("click", signOut);

applyLang();
if (token) signedIn();
