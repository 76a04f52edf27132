// cropwatch farmer page: sign in, send a photo, show the diagnosis and the area's history. No build step.
"use strict";
const T = {
  vi: {
    title: "Chẩn đoán lá lúa", signin: "Đăng nhập", username: "Tên đăng nhập", password: "Mật khẩu",
    signin_btn: "Đăng nhập", take_photo: "Chụp ảnh lá", area: "Vùng trồng", choose: "Chụp hoặc chọn ảnh",
    send: "Gửi ảnh", result: "Kết quả", history: "Lịch sử vùng trồng", signout: "Đăng xuất",
    uploading: "Đang gửi ảnh…", analysing: "Đang phân tích…", bad_login: "Sai tên đăng nhập hoặc mật khẩu",
    maybe: "Có thể là", or: "hoặc", confidence: "Độ tin cậy", severity: "Mức bệnh (thang SES 0-9)", leaf_area: "diện tích lá", growth: "Sinh trưởng",
    leaf_colour: "màu lá, mức bảng so màu", canopy_cover: "độ che phủ xanh", no_history: "Chưa có ảnh nào.",
    fb_question: "Kết quả này đúng không?", fb_right: "Đúng", fb_wrong: "Sai, đó là…", fb_what: "Đó là gì?",
    fb_it_is: "Theo tôi đó là", fb_other_name: "Tên bệnh hoặc sâu hại", fb_send: "Gửi", fb_thanks: "Cảm ơn! Cán bộ nông nghiệp sẽ xem lại.",
    labels: { bacterial_leaf_blight: "Bệnh bạc lá", blast: "Bệnh đạo ôn", brown_spot: "Bệnh đốm nâu", unsure: "Chưa chắc chắn" },
    status: { no_symptom: "Không thấy triệu chứng bệnh", retake: "Cần chụp lại ảnh", field_patch: "Ảnh khoảnh ruộng" },
  },
  en: {
    title: "Rice leaf check", signin: "Sign in", username: "Username", password: "Password",
    signin_btn: "Sign in", take_photo: "Photograph a leaf", area: "Growing area", choose: "Take or choose a photo",
    send: "Send photo", result: "Result", history: "History of this area", signout: "Sign out",
    uploading: "Sending photo…", analysing: "Analysing…", bad_login: "Wrong username or password",
    maybe: "It may be", or: "or", confidence: "Confidence", severity: "Severity (SES 0-9)", leaf_area: "of leaf area", growth: "Growth",
    leaf_colour: "leaf colour, chart level", canopy_cover: "green canopy cover", no_history: "No photos yet.",
    fb_question: "Is this right?", fb_right: "Right", fb_wrong: "Wrong, it is…", fb_what: "What is it?",
    fb_it_is: "I think it is", fb_other_name: "Name of the disease or pest", fb_send: "Send", fb_thanks: "Thank you! An agronomist will check it.",
    labels: { bacterial_leaf_blight: "Bacterial leaf blight", blast: "Blast", brown_spot: "Brown spot", unsure: "Unsure" },
    status: { no_symptom: "No disease symptom visible", retake: "Please retake the photo", field_patch: "Field patch photo" },
  },
};
let lang = localStorage.getItem("cw_lang") || "vi";
let token = sessionStorage.getItem("cw_token");
let lastResult = null, lastPhotoId = null, labelList = [];
const $ = (id) => document.getElementById(id);
const t = (k) => T[lang][k];

function applyLang() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("lang").textContent = lang === "vi" ? "EN" : "VI";
  if (lastResult) showResult(lastResult);
  if (token && $("area").value) loadHistory();
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
    head.textContent = `${t("maybe")}: ` + cands.map((c) => `${T[lang].labels[c.label] || c.label} (${Math.round(c.probability * 100)}%)`).join(` ${t("or")} `);
    box.appendChild(head);
    const list = document.createElement("ul");
    for (const text of [...cands.map((c) => c.look_for), d.look_for_other]) {
      if (!text) continue;
      const li = document.createElement("li");
      li.textContent = text[lang];
      list.appendChild(li);
    }
    box.appendChild(list);
  }
  box.hidden = !cands.length;
  $("severity").textContent = s.ses === null ? "" : `${t("severity")}: ${s.ses} (${s.affected_pct}% ${t("leaf_area")})`;
  $("growth").textContent = g.score === null ? "" :
    `${t("growth")}: ${g.score}/100 (${t(g.method)}${g.lcc_level ? " " + g.lcc_level : ""})`;
  $("advice").textContent = res.advice[lang];
  $("result").hidden = false;
  showFeedback(d);
}

// "right / wrong, it is ..." after each result: labels from the class registry (names in both languages)
async function showFeedback(d) {
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
  $("fb-done").textContent = "";
  try {
    await api(`/v1/photos/${lastPhotoId}/feedback`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
    $("fb-done").textContent = t("fb_thanks"); $("fb-form").hidden = true;
  } catch (e) { $("fb-done").textContent = e.message; }
}

async function loadAreas() {
  const page = await api("/v1/areas?limit=500&status=active");
  $("area").innerHTML = "";
  for (const a of page.items) {
    const o = document.createElement("option");
    o.value = a.code; o.textContent = `${a.code} – ${a.name}`;
    $("area").appendChild(o);
  }
}

async function loadHistory() {
  const code = $("area").value;
  if (!code) return;
  const obs = await api(`/v1/areas/${encodeURIComponent(code)}/observations?source=photo&limit=20`);
  const ul = $("history-list");
  ul.innerHTML = "";
  if (!obs.length) { ul.innerHTML = `<li>${t("no_history")}</li>`; }
  for (const o of obs) {
    const li = document.createElement("li");
    const d = o.scores.diagnosis, s = o.scores.severity, g = o.scores.growth;
    li.textContent = `${new Date(o.observed_at).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB")} · ${labelText(d)}` +
      (s.ses !== null ? ` · SES ${s.ses}` : "") + (g.score !== null ? ` · ${t("growth")} ${g.score}` : "");
    ul.appendChild(li);
  }
  $("history").hidden = false;
}

function signedIn() {
  $("signin").hidden = true; $("upload").hidden = false; $("signout").hidden = false;
  loadAreas().then(loadHistory).catch((e) => { $("upload-error").textContent = e.message; });
}

function signOut() {
  token = null; sessionStorage.removeItem("cw_token");
  $("signin").hidden = false; $("upload").hidden = true; $("result").hidden = true; $("history").hidden = true;
  $("signout").hidden = true;
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

$("photo").addEventListener("change", () => {
  const f = $("photo").files[0];
  if (!f) return;
  $("preview").src = URL.createObjectURL(f); $("preview").hidden = false;
});

$("area").addEventListener("change", loadHistory);
$("fb-right").addEventListener("click", () => sendFeedback({ verdict: "right" }));
$("fb-wrong").addEventListener("click", () => { $("fb-form").hidden = false; });
$("fb-label").addEventListener("change", () => { $("fb-other").hidden = $("fb-label").value !== "other"; });
$("fb-send").addEventListener("click", () => {
  const label = $("fb-label").value;
  const body = { label, verdict: lastResult && lastResult.diagnosis.status === "diagnosed" ? "wrong" : undefined };
  if (label === "other") body.other_name = $("fb-other-name").value;
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
  $("send").disabled = true;
  const photo = await preparePhoto(f);
  const form = new FormData();
  form.append("file", photo.blob, photo.name);
  form.append("area_code", $("area").value);
  if (photo.gps && photo.gps.lat !== undefined) { form.append("lat", photo.gps.lat.toFixed(7)); form.append("lon", photo.gps.lon.toFixed(7)); }
  if (photo.gps && photo.gps.device) form.append("device", photo.gps.device.slice(0, 100));
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/photos");
  xhr.setRequestHeader("Authorization", `Bearer ${token}`);
  $("progress").hidden = false; $("send").disabled = true; $("upload-error").textContent = "";
  $("bar").value = 0; $("progress-text").textContent = t("uploading");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) $("bar").value = Math.round((e.loaded / e.total) * 90);
    if (e.loaded === e.total) { $("progress-text").textContent = t("analysing"); $("bar").removeAttribute("value"); }
  };
  xhr.onload = () => {
    $("progress").hidden = true; $("send").disabled = false;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    if (xhr.status === 201) { lastPhotoId = body.id; $("fb-done").textContent = ""; showResult(body.result); $("result").scrollIntoView({ behavior: "smooth" }); loadHistory(); }
    else { $("upload-error").textContent = body.detail || xhr.statusText; }
  };
  xhr.onerror = () => { $("progress").hidden = true; $("send").disabled = false; $("upload-error").textContent = "network error"; };
  xhr.send(form);
});

$("lang").addEventListener("click", () => {
  lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("cw_lang", lang); applyLang();
});
$("signout").addEventListener("click", signOut);

applyLang();
if (token) signedIn();
