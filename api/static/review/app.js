// cropwatch review page for agronomists: the queue of farmers' corrections, confirm / correct / reject in one tap,
// counts of confirmed examples per label and source, and who reviewed what. No build step.
"use strict";
const T = {
  vi: { title: "Duyệt nhãn ảnh", username: "Tên đăng nhập", password: "Mật khẩu", signin: "Đăng nhập", queue: "Hàng chờ",
    queue_hint: "Nông dân không đồng ý trước, rồi nông dân chưa chắc, rồi mô hình chưa chắc.", empty: "Không còn ảnh nào cần duyệt.",
    reason: "Lý do", model: "Mô hình", farmer: "Nông dân", where: "Vùng, điện thoại", confirm: "Xác nhận", correct: "Sửa nhãn",
    reject: "Loại bỏ", keys: "Phím tắt: C xác nhận, R loại bỏ, J ảnh tiếp, L phần đã đo.",
    severity: "Mức độ", show_lesions: "Xem phần đã đo", show_photo: "Xem ảnh gốc",
    lesions_hint: "Màu hồng: phần lá được tính là vết bệnh; viền trắng: lá.",
    no_drawing: "Không tải được hình phần đã đo; đang hiện ảnh gốc.", no_image: "Không tải được ảnh.",
    unsure_label: "chưa chắc", nothing_to_confirm: "Không có nhãn để xác nhận: câu trả lời cần xác nhận không phải một nhãn trong danh sách (chưa chắc, hoặc một tên ngoài danh sách): chọn nhãn đúng rồi bấm Sửa nhãn, hoặc Loại bỏ.",
    actions: { confirm: "xác nhận", correct: "sửa thành", reject: "loại bỏ" }, counts: "Ví dụ đã xác nhận (theo nhãn và nguồn)",
    label: "Nhãn", total: "Tổng", sources: "Nguồn", log: "Ai duyệt gì", models_link: "Mô hình", none: "chưa có",
    one_source: "chỉ một nguồn", unknown_phone: "điện thoại không rõ", sample_photo: "ảnh mẫu", bad_login: "Sai tên đăng nhập hoặc mật khẩu", not_reviewer: "Chỉ cán bộ nông nghiệp và quản trị viên được duyệt.",
    reasons: { disagreement: "không đồng ý", farmer_unsure: "nông dân chưa chắc", model_unsure: "mô hình chưa chắc", agreement: "đồng ý" },
    other: "Khác", retakes: "Ảnh phải chụp lại (14 ngày)", no_retakes: "Không có.", times: "lần",
    issues: { too_dark: "tối", too_bright: "chói", blurry: "mờ", not_a_plant: "không phải cây", no_colour: "đen trắng" },
    errors: { role_not_allowed: "Chỉ cán bộ nông nghiệp và quản trị viên được duyệt.",
      review_already_reviewed: "Ảnh này vừa được người khác duyệt (xem «Ai duyệt gì»): quyết định của bạn chưa được lưu, hàng chờ đã được tải lại." } },
  en: { title: "Review photo labels", username: "Username", password: "Password", signin: "Sign in", queue: "Queue",
    queue_hint: "Farmers disagreeing first, then farmers unsure, then the model unsure.", empty: "Nothing left to review.",
    reason: "Why queued", model: "Model", farmer: "Farmer", where: "Area, phone", confirm: "Confirm", correct: "Correct to",
    reject: "Reject", keys: "Keys: C confirm, R reject, J next photo, L what was measured.",
    severity: "Severity", show_lesions: "Show what was measured", show_photo: "Show the photo",
    lesions_hint: "Magenta: counted as lesion; white outline: the leaf.",
    no_drawing: "The drawing could not be loaded; showing the photo.", no_image: "The photo could not be loaded.",
    unsure_label: "unsure", nothing_to_confirm: "Nothing to confirm: the answer to confirm is no label of the list (unsure, or a name outside the list): pick the right label and press Correct to, or Reject.",
    actions: { confirm: "confirm", correct: "correct to", reject: "reject" }, counts: "Confirmed examples (per label and source)",
    label: "Label", total: "Total", sources: "Sources", log: "Who reviewed what", models_link: "Models", none: "none",
    one_source: "one source only", unknown_phone: "unknown phone", sample_photo: "sample photo", bad_login: "Wrong username or password", not_reviewer: "Only agronomists and admins review labels.",
    reasons: { disagreement: "disagreement", farmer_unsure: "farmer unsure", model_unsure: "model unsure", agreement: "agreement" },
    other: "Other", retakes: "Photos to take again (14 days)", no_retakes: "None.", times: "times",
    issues: { too_dark: "dark", too_bright: "too bright", blurry: "blurred", not_a_plant: "not a plant", no_colour: "black and white" },
    errors: { role_not_allowed: "Only agronomists and admins review labels.",
      review_already_reviewed: "Someone else has just reviewed this photo (see “Who reviewed what”): your decision was not saved; the queue was reloaded." } },
};
let labels = {}, items = [], current = null;
let showLesions = false, bigSeq = 0;  // the big image: the photo or what its severity counted (lesions.jpg)
const t = (k) => cw.t(k);
const name = (l) => (l === "unsure" ? t("unsure_label") : labels[l] ? labels[l][cw.lang === "vi" ? "name_vi" : "name_en"] : l);
// a label the trainer can take (what confirm and correct may store)
// the server's words for a photo without a phone model, and the sample data's, in the page's language
const device = (name) => ({ "unknown phone": t("unknown_phone"), "sample photo": t("sample_photo") })[name] || name;
// the farmer's answer: a label's name, or for "other" the name the farmer wrote (not the registry's "Khác (ghi tên)")
const farmerSaid = (f) => (f.label === "other" && f.other_name ? `${t("other")}: ${f.other_name}` : name(f.label) + (f.other_name ? `: ${f.other_name}` : ""));
const trainable = (l) => !!labels[l] && ["disease", "pest", "healthy"].includes(labels[l].kind);
const locale = () => (cw.lang === "vi" ? "vi-VN" : "en-GB");  // numbers: 12,9 in Vietnamese
// dates written the same in both languages, day first (30/11/2026 14:05), not the browser's default locale
const two = (n) => String(n).padStart(2, "0");
const day = (d) => `${two(d.getDate())}/${two(d.getMonth() + 1)}/${d.getFullYear()}`;
const dayTime = (d) => `${day(d)} ${two(d.getHours())}:${two(d.getMinutes())}`;



async function loadLabels() {
  labels = {};
  for (const l of await cw.api("/v1/labels")) labels[l.name] = l;
  const sel = $("correct-label");
  sel.replaceChildren();
  for (const l of Object.values(labels).filter((l) => trainable(l.name))) {
    const o = document.createElement("option"); o.value = l.name; o.textContent = name(l.name); sel.appendChild(o);
  }
}

async function refresh() {
  const q = await cw.api("/v1/review/queue?limit=100");
  items = q.items; $("queued").textContent = q.queued;
  const ol = $("queue"); ol.replaceChildren();
  for (const it of items) {
    const li = document.createElement("li"); li.dataset.id = it.photo_id;
    const img = document.createElement("img"); img.alt = ""; img.loading = "lazy";
    cw.authImage(it.thumbnail_url, img);
    const span = document.createElement("span");
    span.innerHTML = `<span class="badge ${it.reason}"></span><br><small></small>`;
    span.querySelector(".badge").textContent = T[cw.lang].reasons[it.reason];
    span.querySelector("small").textContent = `${name(it.model.label)} → ${it.farmer ? farmerSaid(it.farmer) : "–"}`;
    li.append(img, span); li.addEventListener("click", () => show(it));
    ol.appendChild(li);
  }
  show(items.find((i) => current && i.photo_id === current.photo_id) || items[0] || null);
  loadStats();
}

function show(it) {
  current = it;
  $("empty").hidden = !!it; $("current").hidden = !it; $("review-error").textContent = "";
  document.querySelectorAll("#queue li").forEach((li) => li.classList.toggle("sel", it && +li.dataset.id === it.photo_id));
  if (!it) return;
  showBig();
  $("severity").textContent = it.severity
    ? `SES ${it.severity.ses} · ${it.severity.affected_pct.toLocaleString(locale(), { maximumFractionDigits: 1 })} %` : "–";
  $("reason").textContent = T[cw.lang].reasons[it.reason];
  const top = it.model.top2.map((c) => `${name(c.label)} ${Math.round(c.probability * 100)}%`).join(" · ");
  $("model").textContent = `${name(it.model.label)} (${top}; v${it.model.version || "?"})`;
  $("farmer").textContent = it.farmer ? `${farmerSaid(it.farmer)} (${it.farmer.by})${it.farmer.comment ? " – " + it.farmer.comment : ""}` : "–";
  $("where").textContent = `${it.area_code}, ${device(it.device) || t("unknown_phone")}, ${day(new Date(it.observed_at))}`;
  // confirm stores the farmer's label, else the model's: nothing to confirm when that is no disease, pest or healthy.
  // The button names what it stores ("Confirm" alone read as confirming the model on a disagreement)
  const stored = it.farmer ? it.farmer.label : it.model.label;
  const confirmable = trainable(stored);
  $("confirm").disabled = !confirmable; $("confirm-why").hidden = confirmable;
  $("confirm").textContent = confirmable ? `${t("confirm")}: ${name(stored)}` : t("confirm");
  const guess = it.farmer && trainable(it.farmer.label) ? it.farmer.label : it.model.top2[0]?.label;
  if (guess) $("correct-label").value = guess;
}

// only the newest request may fill the big image, and nothing stands in it while a request is on its way: a
// reviewer must never judge one photo (or view) under another's details
async function showBig() {
  const it = current, seq = ++bigSeq, big = $("big"), token = cw.token;
  const lesions = showLesions && !!it.lesions_url;
  $("view-lesions").hidden = !it.lesions_url; $("view-hint").hidden = !lesions;
  $("view-lesions").textContent = t(lesions ? "show_photo" : "show_lesions");
  $("view-lesions").setAttribute("aria-pressed", String(lesions));
  if (big.src.startsWith("blob:")) URL.revokeObjectURL(big.src);
  big.removeAttribute("src"); big.classList.add("pending");
  let blob = null, status = 0;
  try {
    const r = await fetch(lesions ? it.lesions_url : it.image_url, { headers: { Authorization: `Bearer ${token}` } });
    status = r.status;
    if (r.ok) blob = await r.blob();
  } catch { blob = null; }
  if (seq !== bigSeq || cw.token !== token) return;  // a newer photo or view was asked for, or the reviewer left
  big.classList.remove("pending");
  if (status === 401) { cw.signOut(); return; }
  if (!blob) {
    $("review-error").textContent = t(lesions ? "no_drawing" : "no_image");
    if (lesions) { showLesions = false; showBig(); }  // back to the photo
    return;
  }
  big.src = URL.createObjectURL(blob);
}
function toggleLesions() { if (current && current.lesions_url) { showLesions = !showLesions; showBig(); } }

async function decide(action) {
  if (!current || (action === "confirm" && $("confirm").disabled)) return;
  const body = { action, only_if_unreviewed: true };  // another reviewer's decision since the queue was shown: refused
  if (action === "correct") body.label = $("correct-label").value;
  // the label the button names, not whatever the farmer's newest answer is by the time the server reads it
  if (action === "confirm") body.label = current.farmer ? current.farmer.label : current.model.label;
  try {
    await cw.api(`/v1/review/photos/${current.photo_id}`, { method: "POST", body: JSON.stringify(body) });
    const i = items.indexOf(current); current = items[i + 1] || null;
    await refresh();
  } catch (e) {
    if (e.reason === "review_already_reviewed") await refresh();  // a second reviewer: the queue as it is now
    $("review-error").textContent = e.message;
  }
}

async function loadStats() {
  const s = await cw.api("/v1/review/stats");
  const tb = document.querySelector("#counts tbody"); tb.replaceChildren();
  for (const [label, per] of Object.entries(s.confirmed)) {
    const tr = document.createElement("tr");
    const n = Object.keys(per).length;
    tr.innerHTML = "<td></td><td></td><td></td>";
    tr.children[0].textContent = name(label); tr.children[1].textContent = s.totals[label];
    tr.children[2].textContent = Object.entries(per).map(([k, v]) => `${device(k)} ${v}`).join(", ") + (n === 1 ? ` (${t("one_source")})` : "");
    if (n === 1) tr.children[2].className = "warn";
    tb.appendChild(tr);
  }
  if (!tb.children.length) tb.innerHTML = `<tr><td colspan="3">${t("none")}</td></tr>`;
  // farmers the gate asked to take a photo again, most first: someone failing again and again needs a visit or a call
  const rt = $("retakes"); rt.replaceChildren();
  for (const r of s.retakes || []) {
    const li = document.createElement("li");
    const why = Object.entries(r.issues).map(([k, n]) => `${T[cw.lang].issues[k] || k} ${n}`).join(", ");
    li.textContent = `${r.area_code} · ${r.by || "?"} · ${r.refused} ${t("times")} (${why}) · ${dayTime(new Date(r.last_at))}`;
    rt.appendChild(li);
  }
  if (!rt.children.length) rt.innerHTML = `<li>${t("no_retakes")}</li>`;
  const ul = $("log"); ul.replaceChildren();
  for (const e of await cw.api("/v1/review/log?limit=50")) {
    const li = document.createElement("li");
    li.textContent = `${dayTime(new Date(e.created_at))} · ${e.by} · ${T[cw.lang].actions[e.action] || e.action}${e.label ? " " + name(e.label) : ""} · #${e.photo_id}`;
    ul.appendChild(li);
  }
}


$("confirm").addEventListener("click", () => decide("confirm"));
$("correct").addEventListener("click", () => decide("correct"));
$("reject").addEventListener("click", () => decide("reject"));
$("view-lesions").addEventListener("click", toggleLesions);
document.addEventListener("keydown", (e) => {
  if ($("work").hidden || e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;  // Ctrl+C copies, Ctrl+R reloads: never a decision
  const key = e.key.toLowerCase();  // Caps Lock or Shift: the same key
  if (key === "c") decide("confirm"); else if (key === "r") decide("reject");
  else if (key === "l") toggleLesions();
  else if (key === "j" && current) show(items[items.indexOf(current) + 1] || items[0]);
});
function relabel() {  // the "correct to" list in the page's language, after a switch
  for (const o of $("correct-label").options) o.textContent = name(o.value);
}
cw.start(T, async () => { await loadLabels(); await refresh(); }, async () => { relabel(); await refresh(); });
