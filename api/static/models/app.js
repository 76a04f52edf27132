// cropwatch models page: versions with their metrics, cards and plots, which one is served, compare with the active
// version on the frozen benchmark, promote or roll back (admins, or agronomists given the right). No build step.
"use strict";
const T = {
  vi: { title: "Mô hình đang phục vụ", review_link: "Duyệt nhãn", username: "Tên đăng nhập", password: "Mật khẩu", signin: "Đăng nhập",
    task: "Tác vụ", version: "Phiên bản", metrics: "Chỉ số", files: "Tệp", promote: "Đưa vào phục vụ", reason: "Lý do",
    force: "Buộc đưa vào (dù so sánh từ chối; cần lý do)", rollback: "Quay lại phiên bản trước", history: "Lịch sử chuyển đổi",
    confirm_rollback: "Quay lại phiên bản đã phục vụ trước lần chuyển đổi gần nhất? Mọi máy chủ sẽ đổi ngay.",
    when: "Lúc", who: "Ai", what: "Gì", active: "đang phục vụ", compare: "So sánh với bản đang phục vụ", activate: "Đưa vào phục vụ",
    comparing: "Đang so sánh trên bộ ảnh chuẩn (khoảng 10 giây)…", done: "Xong", bad_login: "Sai tên đăng nhập hoặc mật khẩu",
    loso: "ngoài nguồn", lodo: "kiểu ảnh chưa học", insource: "trong nguồn", unsure: "chưa chắc", damage_f1: "F1 hư hại",
    test_split: "tập thử cùng nguồn (không so được với ngoài nguồn)",
    no_right: "Chỉ quản trị viên, hoặc kỹ sư được quản trị viên cấp quyền, mới đưa phiên bản vào phục vụ hay quay lại được. Bạn vẫn so sánh được; muốn có quyền, hãy hỏi quản trị viên.",
    card_english: "Thẻ mô hình viết bằng tiếng Anh.",
    confirm_promote: "Đưa {task} {version} vào phục vụ thay cho {active}? Mọi máy chủ sẽ đổi ngay.",
    confirm_force: "BUỘC đưa {task} {version} vào phục vụ thay cho {active}, dù chưa so sánh hoặc so sánh đã từ chối? Lý do: «{reason}». Mọi máy chủ sẽ đổi ngay.",
    switched: "Đang phục vụ {active} (trước đó: {previous}).", forced: "buộc", act_activate: "đưa vào phục vụ", act_rollback: "quay lại",
    verdict_ok: "{candidate} không kém {active} ở nguồn hay bệnh nào trên bộ ảnh chuẩn (biên {margin}): có thể đưa vào phục vụ.",
    verdict_refused: "{candidate} kém {active} ở {n} mục trên bộ ảnh chuẩn (biên {margin}): sẽ bị từ chối, trừ khi buộc đưa vào với lý do. Bảng chi tiết (tiếng Anh) ở dưới.",
    errors: {
      role_not_allowed: "Trang này dành cho cán bộ nông nghiệp và quản trị viên.",
      model_no_right: "Chỉ quản trị viên, hoặc kỹ sư được quản trị viên cấp quyền, mới đưa phiên bản vào phục vụ hay quay lại được.",
      model_force_needs_reason: "Buộc đưa vào cần có lý do: hãy ghi lý do (được lưu cùng lần chuyển đổi).",
      model_not_compared: "Phiên bản này chưa được so sánh với bản đang phục vụ trên bộ ảnh chuẩn: hãy bấm «So sánh với bản đang phục vụ» trước, hoặc buộc đưa vào với lý do.",
      model_worse: "Phiên bản này kém bản đang phục vụ trên bộ ảnh chuẩn (xem bảng so sánh): chỉ buộc đưa vào được, với lý do.",
      model_quick_subset: "Phiên bản này chỉ được huấn luyện thử trên một phần dữ liệu: hãy huấn luyện trên toàn bộ dữ liệu, hoặc buộc đưa vào với lý do.",
      model_already_active: "Phiên bản này đang được phục vụ: không có gì để chuyển.",
      model_nothing_to_roll_back: "Không có phiên bản trước để quay lại: hãy đưa một phiên bản vào phục vụ.",
    } },
  en: { title: "Served models", review_link: "Review labels", username: "Username", password: "Password", signin: "Sign in",
    task: "Task", version: "Version", metrics: "Metrics", files: "Files", promote: "Promote", reason: "Reason",
    force: "Force (although the comparison refuses it; needs a reason)", rollback: "Roll back to the previous version",
    confirm_rollback: "Serve again the version served before the latest switch? Every server changes at once.",
    history: "Switches", when: "When", who: "Who", what: "What", active: "served", compare: "Compare with the served version",
    activate: "Promote", comparing: "Comparing on the frozen benchmark (about 10 s)…", done: "Done",
    bad_login: "Wrong username or password", loso: "other source", lodo: "unseen kind of photo", insource: "within sources", unsure: "unsure",
    damage_f1: "damage F1", test_split: "test split of the same sources (not comparable with other-source figures)",
    no_right: "Only an admin, or an agronomist an admin gave the right, can promote or roll back a version. You can still compare; ask an admin for the right.",
    card_english: "Model cards are written in English.",
    confirm_promote: "Serve {task} {version} instead of {active}? Every server changes at once.",
    confirm_force: "FORCE {task} {version} into service instead of {active}, although it was not compared or the comparison refused it? Reason: “{reason}”. Every server changes at once.",
    switched: "Now serving {active} (before: {previous}).", forced: "forced", act_activate: "promoted", act_rollback: "rolled back",
    verdict_ok: "{candidate} is no worse than {active} on any source or disease of the frozen benchmark (margin {margin}): it may be promoted.",
    verdict_refused: "{candidate} is worse than {active} on {n} items of the frozen benchmark (margin {margin}): promotion is refused unless forced with a reason. Details below.",
    errors: {
      role_not_allowed: "This page is for agronomists and admins.",
      model_no_right: "Only an admin, or an agronomist an admin gave the right, can promote or roll back a version.",
      model_force_needs_reason: "A forced promotion needs a reason: write it (it is recorded with the switch).",
      model_not_compared: "This version has not been compared with the served one on the frozen benchmark: click “Compare with the served version” first, or force it with a reason.",
      model_worse: "This version is worse than the served one on the frozen benchmark (see the comparison): it can only be forced, with a reason.",
      model_quick_subset: "This version was trained on a quick subset of the data: train it on all the data, or force it with a reason.",
      model_already_active: "This version is already served: nothing to switch.",
      model_nothing_to_roll_back: "There is no earlier version to roll back to: promote a version instead.",
    } },
};
let active = null;
let mayPromote = false;  // admins, and agronomists an admin gave the right (the server checks it again)
const t = (k) => cw.t(k);
const task = () => $("task").value;


function metricsText(m) {
  const parts = [];
  for (const [k, v] of Object.entries(m.leave_one_source_out || {})) parts.push(`${t("loso")} ${k.replace("train_", "").replace("_test_", "→")}: F1 ${cw.num(v.macro_f1)}`);
  // leave one capture domain out (bundles trained since 2026-12-01): a kind of photo training had not seen
  for (const [k, v] of Object.entries(m.leave_one_domain_out || {})) parts.push(`${t("lodo")} ${k.replace("test_", "")}: F1 ${cw.num(v.macro_f1)}`);
  const ins = (m.in_source_grouped_cv || {}).all;
  if (ins) parts.push(`${t("insource")}: F1 ${cw.num(ins.macro_f1)}, ${t("unsure")} ${Math.round(ins.unsure * 100)}%`);
  // the whole-image bundles' (1.0.0, 1.1.0) F1 is on a test split of the sources they were trained on: said so, or
  // it reads as better than the later bundles' figures under leave one source out
  if (m.macro_f1 !== undefined) parts.push(`${t("test_split")}: F1 ${cw.num(m.macro_f1)}`);
  for (const [k, v] of Object.entries(m.held_out_scenes || {})) if (v.model) parts.push(`${k}: ${t("damage_f1")} ${cw.num(v.model.f1)}`);
  return parts.join(" · ");
}

async function load() {
  $("error").textContent = "";
  const me = await cw.api("/v1/accounts/me");
  mayPromote = me.role === "admin" || (me.role === "agronomist" && me.can_promote);
  $("promote-box").hidden = !mayPromote; $("no-right").hidden = mayPromote;
  const versions = await cw.api(`/v1/models/${task()}/versions`);
  const tb = document.querySelector("#versions tbody"); tb.replaceChildren();
  for (const v of versions) {
    if (v.active) active = v.version;
    const tr = document.createElement("tr"); tr.dataset.version = v.version;
    tr.innerHTML = "<td></td><td></td><td></td><td></td>";
    tr.children[0].textContent = v.version;
    if (v.active) { const b = document.createElement("span"); b.className = "badge active"; b.textContent = t("active"); tr.children[0].append(" ", b); }
    tr.children[1].textContent = metricsText(v.metrics);
    for (const f of v.files) {
      const a = document.createElement("a"); a.textContent = f; a.addEventListener("click", () => showFile(v.version, f));
      tr.children[2].appendChild(a);
    }
    if (!v.active) {
      const actions = [[t("compare"), () => compare(v.version)]];
      if (mayPromote) actions.push([t("activate"), () => promote(v.version)]);
      for (const [label, fn] of actions) {
        const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.addEventListener("click", fn);
        tr.children[3].appendChild(b);
      }
    }
    tb.appendChild(tr);
  }
  const hist = await cw.api(`/v1/models/${task()}/activations`);
  const hb = document.querySelector("#history tbody"); hb.replaceChildren();
  for (const h of hist) {
    const tr = document.createElement("tr"); tr.innerHTML = "<td></td><td></td><td></td><td></td>";
    // day first in Vietnamese (12/3/2026 read as 12 March), the action in the page's language
    tr.children[0].textContent = new Date(h.created_at).toLocaleString(cw.lang === "vi" ? "vi-VN" : "en-GB",
      { dateStyle: "short", timeStyle: "short" });
    tr.children[1].textContent = h.actor;
    tr.children[2].textContent = `${t("act_" + h.action) || h.action}: ${h.previous_version || "–"} → ${h.version}${h.forced ? ` (${t("forced")})` : ""}`;
    tr.children[3].textContent = h.reason || "";
    hb.appendChild(tr);
  }
}

async function showFile(version, name) {
  $("detail").hidden = false; $("detail-title").textContent = `${task()} ${version}: ${name}`;
  $("report").textContent = ""; $("plots").replaceChildren(); clearCard();
  const base = `/v1/models/${task()}/versions/${version}/files/`;
  const url = base + name;
  if (name.endsWith(".png")) { $("plots").appendChild(await cw.authImage(url)); return; }
  const text = await cw.api(url);
  if (!name.endsWith(".md")) { $("card").textContent = text; $("card").hidden = false; return; }
  // a card or evaluation, read as a page: its tables as tables, its plots (files of the same bundle) drawn in place
  const image = (src, alt) => {
    if (!/^[\w.-]+\.png$/.test(src)) return null;  // only a plot of this bundle; anything else: its alt text
    const img = document.createElement("img"); img.alt = alt;
    cw.authImage(base + src, img).catch(() => {});  // unreachable: the alt text stays, as for a missing file
    return img;
  };
  $("card-md").replaceChildren(cwMarkdown.render(text, image));
  $("card-md").hidden = false; $("card-lang").hidden = cw.lang === "en";
}

function clearCard() {
  $("card").textContent = ""; $("card").hidden = true;
  $("card-md").replaceChildren(); $("card-md").hidden = true; $("card-lang").hidden = true;
}

async function compare(version) {
  $("msg").textContent = t("comparing"); $("error").textContent = "";
  try {
    const r = await cw.api(`/v1/models/${task()}/compare`, { method: "POST", body: JSON.stringify({ version_b: version }) });
    // the verdict in the page's language; the table below it as the command prints it, without the server's paths
    $("msg").textContent = fill(r.regressions.length ? "verdict_refused" : "verdict_ok",
      { candidate: r.candidate, active: r.active, margin: cw.num(r.margin), n: r.regressions.length });
    $("detail").hidden = false; $("detail-title").textContent = `${r.active} ↔ ${r.candidate} (${r.benchmark})`;
    $("report").textContent = r.report.filter((l) => !/^comparison: /.test(l.trim())).join("\n");
    clearCard();
    $("plots").replaceChildren();
    for (const p of r.plots) $("plots").appendChild(await cw.authImage(`/v1/models/${task()}/comparisons/${r.active}/${r.candidate}/${p}`));
  } catch (e) { $("msg").textContent = ""; $("error").textContent = e.message; }
}

// {name} placeholders of a text filled in
const fill = (key, vals) => t(key).replace(/\{(\w+)\}/g, (_, k) => String(vals[k] ?? ""));

// a switch of every server's model: said what it does and asked first; the reason and "force" are one switch's,
// cleared after it (left ticked, the next click forced another version in, unasked)
async function promote(version) {
  $("error").textContent = ""; $("msg").textContent = "";
  const body = { version, reason: $("reason").value.trim() || null, force: $("force").checked };
  if (body.force && !body.reason) { $("error").textContent = t("errors").model_force_needs_reason; $("reason").focus(); return; }
  const ask = fill(body.force ? "confirm_force" : "confirm_promote", { task: task(), version, active: active || "–", reason: body.reason || "" });
  if (!window.confirm(ask)) return;
  try {
    const r = await cw.api(`/v1/models/${task()}/activate`, { method: "POST", body: JSON.stringify(body) });
    switched(r); await load();
  } catch (e) { $("error").textContent = e.message; }
}
function switched(r) {
  $("msg").textContent = fill("switched", { active: r.active, previous: r.previous || "–" });
  $("reason").value = ""; $("force").checked = false;
}

$("rollback").addEventListener("click", async () => {
  $("error").textContent = "";
  if (!window.confirm(t("confirm_rollback"))) return;  // it switches every server's model at once
  try {
    const r = await cw.api(`/v1/models/${task()}/rollback`, { method: "POST", body: JSON.stringify({ reason: $("reason").value || null }) });
    switched(r); await load();
  } catch (e) { $("error").textContent = e.message; }
});

$("task").addEventListener("change", () => load().catch((e) => { $("error").textContent = e.message; }));
cw.start(T, load, () => {
  $("card-lang").hidden = $("card-md").hidden || cw.lang === "en";  // "the card is in English", in Vietnamese only
  load().catch((e) => { $("error").textContent = e.message; });
});
