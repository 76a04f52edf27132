// Shared by the agronomists' pages (/review/, /models/, /map/): the sign-in form and flow, JSON calls with the bearer token, images behind
// the token, the language switch. Each page defines its texts T and calls cw.start(T, onSignedIn). No build step.
"use strict";
const $ = (id) => document.getElementById(id);
const SHARED_T = { vi: { signout: "Đăng xuất" }, en: { signout: "Sign out" } };  // what every page says alike
const cw = {
  lang: localStorage.getItem("cw_lang") || "vi",
  token: sessionStorage.getItem("cw_token"),
  T: null,
  onLang: null,
  t(k) { return cw.T[cw.lang][k] ?? SHARED_T[cw.lang][k]; },
  // a number in the page's language, at most `max` decimals: 0,953 in Vietnamese, 0.953 in English
  num(x, max = 4) { return Number(x).toLocaleString(cw.lang === "vi" ? "vi-VN" : "en-US", { maximumFractionDigits: max }); },
  async api(path, opts = {}) {
    const headers = Object.assign({ "Content-Type": "application/json" }, cw.token ? { Authorization: `Bearer ${cw.token}` } : {});
    const r = await fetch(path, Object.assign({}, opts, { headers }));
    const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
    if (r.status === 401) { cw.signOut(); throw new Error(cw.t("bad_login")); }
    if (!r.ok) throw Object.assign(new Error(cw.errorText(body, r.statusText)), { reason: body.reason });
    return body;
  },
  // a refusal in the page's language where the page has a sentence for its `reason` (its T.errors), else the
  // server's own words (English): "only agronomists and admins ..." stood in English on the Vietnamese pages
  errorText(body, fallback = "") {
    const said = body && body.reason && (cw.T[cw.lang].errors || {})[body.reason];
    return said || (body && body.detail) || fallback;
  },
  async authImage(url, img = document.createElement("img")) {
    const r = await fetch(url, { headers: { Authorization: `Bearer ${cw.token}` } });
    img.alt = img.alt || url.split("/").pop();
    if (r.ok) img.src = URL.createObjectURL(await r.blob());
    return img;
  },
  signOut() {
    cw.token = null; sessionStorage.removeItem("cw_token"); $("signin").hidden = false; $("work").hidden = true;
    if ($("signout")) $("signout").hidden = true;
  },
  applyLang() {
    document.documentElement.lang = cw.lang;
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = cw.t(el.dataset.t); });
    $("lang").textContent = cw.lang === "vi" ? "EN" : "VI";
    if (cw.token && !$("work").hidden && cw.onLang) cw.onLang();
  },
  // the sign-in form, the same on every page that uses this file (texts from the page's T)
  FORM: `<form id="signin-form">
    <label><span data-t="username"></span><input id="username" autocomplete="username" required></label>
    <label><span data-t="password"></span><input id="password" type="password" autocomplete="current-password" required></label>
    <button type="submit" data-t="signin"></button>
    <p id="signin-error" class="error" role="alert"></p></form>`,
  start(T, onSignedIn, onLang) {
    cw.T = T; cw.onLang = onLang;
    $("signin").innerHTML = cw.FORM;
    // a sign-out button beside the language switch: these pages are opened on shared office computers
    const out = Object.assign(document.createElement("button"), { type: "button", id: "signout", hidden: true });
    out.dataset.t = "signout";
    $("lang").after(out);
    out.addEventListener("click", async () => {
      try { await fetch("/v1/auth/sign-out", { method: "POST", headers: { Authorization: `Bearer ${cw.token}` } }); } catch (_) { /* offline: forgotten here anyway */ }
      cw.signOut();
    });
    const signedIn = async () => {
      $("signin").hidden = true; $("work").hidden = false; out.hidden = false;
      try { await onSignedIn(); } catch (e) { cw.signOut(); $("signin-error").textContent = e.message; }
    };
    $("signin-form").addEventListener("submit", async (ev) => {
      ev.preventDefault(); $("signin-error").textContent = "";
      const r = await fetch("/v1/auth/token", { method: "POST", body: new URLSearchParams({ username: $("username").value, password: $("password").value }) });
      if (!r.ok) { $("signin-error").textContent = cw.t("bad_login"); return; }
      cw.token = (await r.json()).access_token; sessionStorage.setItem("cw_token", cw.token); signedIn();
    });
    $("lang").addEventListener("click", () => { cw.lang = cw.lang === "vi" ? "en" : "vi"; localStorage.setItem("cw_lang", cw.lang); cw.applyLang(); });
    cw.applyLang();
    if (cw.token) signedIn();
  },
};
