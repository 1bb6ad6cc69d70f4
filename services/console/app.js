// Marquee console: three screens over the public API (search, a profile's home page, the ad-break
// inspector). Plain browser JavaScript, no framework, no build step; every value from the API is put
// in the page with textContent (never as HTML).
"use strict";

const UI = {
  en: {console: "console", tab_search: "Search", tab_home: "Home page", tab_ads: "Ad break", profile: "Profile",
       language: "Language", anonymous: "anonymous", search_placeholder: "Search titles, people, or describe a story…",
       reload: "Reload page", create_profile: "Create profile", api_keys: "API keys", title: "Title",
       device: "Device", country: "Country", pod_duration: "Break (s)", max_ads: "Max ads", floor: "Floor CPM",
       consent: "TCF consent", send: "Send", chosen_pod: "Chosen pod", candidates: "Candidates",
       results: "results", why: "why", watch: "Watch", finish: "Finish", no_results: "No results",
       kids_banner: "Kids profile: only titles rated for kids, no personalized ads",
       pick_profile: "Pick or create a profile to see its home page", new_row: "new",
       saved: "Saved — reload to see the page change", facet_types: "Type", facet_genres: "Genre",
       facet_decades: "Decade", facet_maturity: "Maturity", facet_description_languages: "Description language",
       facet_original_languages: "Original language", facet_countries: "Country", no_bid: "No bid (204)"},
  fr: {console: "console", tab_search: "Recherche", tab_home: "Accueil", tab_ads: "Coupure pub", profile: "Profil",
       language: "Langue", anonymous: "anonyme", search_placeholder: "Cherchez un titre, une personne, ou racontez une histoire…",
       reload: "Recharger", create_profile: "Créer le profil", api_keys: "Clés d'API", title: "Titre",
       device: "Appareil", country: "Pays", pod_duration: "Coupure (s)", max_ads: "Pubs max", floor: "Prix plancher",
       consent: "Consentement TCF", send: "Envoyer", chosen_pod: "Coupure choisie", candidates: "Candidats",
       results: "résultats", why: "pourquoi", watch: "Regarder", finish: "Terminer", no_results: "Aucun résultat",
       kids_banner: "Profil enfant : seulement des titres pour enfants, pas de publicité personnalisée",
       pick_profile: "Choisissez ou créez un profil pour voir son accueil", new_row: "nouveau",
       saved: "Enregistré — rechargez pour voir l'accueil changer", facet_types: "Type", facet_genres: "Genre",
       facet_decades: "Décennie", facet_maturity: "Public", facet_description_languages: "Langue du résumé",
       facet_original_languages: "Langue originale", facet_countries: "Pays", no_bid: "Pas d'enchère (204)"},
  es: {console: "consola", tab_search: "Búsqueda", tab_home: "Inicio", tab_ads: "Pausa publicitaria", profile: "Perfil",
       language: "Idioma", anonymous: "anónimo", search_placeholder: "Busca títulos, personas o describe una historia…",
       reload: "Recargar", create_profile: "Crear perfil", api_keys: "Claves de API", title: "Título",
       device: "Dispositivo", country: "País", pod_duration: "Pausa (s)", max_ads: "Anuncios máx.", floor: "Precio mínimo",
       consent: "Consentimiento TCF", send: "Enviar", chosen_pod: "Pausa elegida", candidates: "Candidatos",
       results: "resultados", why: "por qué", watch: "Ver", finish: "Terminar", no_results: "Sin resultados",
       kids_banner: "Perfil infantil: solo títulos para niños, sin anuncios personalizados",
       pick_profile: "Elige o crea un perfil para ver su inicio", new_row: "nuevo",
       saved: "Guardado — recarga para ver el cambio", facet_types: "Tipo", facet_genres: "Género",
       facet_decades: "Década", facet_maturity: "Edad", facet_description_languages: "Idioma de la descripción",
       facet_original_languages: "Idioma original", facet_countries: "País", no_bid: "Sin puja (204)"},
  de: {console: "Konsole", tab_search: "Suche", tab_home: "Startseite", tab_ads: "Werbepause", profile: "Profil",
       language: "Sprache", anonymous: "anonym", search_placeholder: "Titel, Personen suchen oder eine Handlung beschreiben…",
       reload: "Neu laden", create_profile: "Profil anlegen", api_keys: "API-Schlüssel", title: "Titel",
       device: "Gerät", country: "Land", pod_duration: "Pause (s)", max_ads: "Max. Spots", floor: "Mindestpreis",
       consent: "TCF-Einwilligung", send: "Senden", chosen_pod: "Gewählte Pause", candidates: "Kandidaten",
       results: "Ergebnisse", why: "warum", watch: "Ansehen", finish: "Beenden", no_results: "Keine Ergebnisse",
       kids_banner: "Kinderprofil: nur Titel für Kinder, keine personalisierte Werbung",
       pick_profile: "Profil wählen oder anlegen, um seine Startseite zu sehen", new_row: "neu",
       saved: "Gespeichert — neu laden, um die Änderung zu sehen", facet_types: "Typ", facet_genres: "Genre",
       facet_decades: "Jahrzehnt", facet_maturity: "Altersstufe", facet_description_languages: "Sprache der Beschreibung",
       facet_original_languages: "Originalsprache", facet_countries: "Land", no_bid: "Kein Gebot (204)"},
};

// facet group -> search parameter; understood-chip kind -> search parameter
const FACET_PARAM = {types: "type", genres: "genre", decades: "decade", maturity: "max_maturity",
                     description_languages: "description_language", original_languages: "original_language",
                     countries: "country"};
// understood kinds (search.understand): "like" has no filter form and is dropped when understanding is off
const CHIP_PARAM = {type: "type", genre: "genre", years: "years", country: "country", audience: "max_maturity",
                    runtime: "runtime"};

const $ = (id) => document.getElementById(id);
const state = {lang: "en", filters: [], understand: true, seq: 0, previousRows: null, lastPageProfile: null};

function t(key) { return (UI[state.lang] || UI.en)[key] || UI.en[key] || key; }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function api(method, path, {body, key} = {}) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (key) headers["x-api-key"] = key;
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const type = response.headers.get("content-type") || "";
  const data = response.status === 204 ? null : type.includes("json") ? await response.json() : await response.text();
  return {status: response.status, data};
}

function problemText(r) {
  return `${r.status}: ${(r.data && (r.data.detail || (r.data.ext && r.data.ext.errors))) || "error"}`;
}

// ------------------------------------------------------------------------------------------ shell

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
}

function show(screen) {
  for (const s of document.querySelectorAll(".screen")) s.classList.toggle("active", s.id === `screen-${screen}`);
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.screen === screen);
  if (screen === "home") loadHome();
  if (screen === "ads" && !$("ad-profile").value) $("ad-profile").value = $("profile").value;
}

function profileId() { return $("profile").value || null; }

// ------------------------------------------------------------------------------------------ (1) search

let typingTimer = null;
function searchSoon() { clearTimeout(typingTimer); typingTimer = setTimeout(runSearch, 180); }

function searchParams() {
  const p = new URLSearchParams({q: $("q").value.trim(), limit: "12", lang: state.lang});
  if (profileId()) p.set("profile_id", profileId());
  if (!state.understand) p.set("understand", "false");
  for (const f of state.filters) {
    if (f.param === "years") {  // '1990-1999', '-1999' or '2017-'
      const [low, high] = f.value.split("-");
      if (low) p.set("year_min", low);
      if (high) p.set("year_max", high);
    } else if (f.param === "runtime") {  // minutes: '-90' or '120-'
      const [low, high] = f.value.split("-");
      if (low) p.set("runtime_min", low);
      if (high) p.set("runtime_max", high);
    } else if (f.param === "decade") {
      const start = parseInt(f.value, 10);
      if (!Number.isNaN(start)) { p.set("year_min", String(start)); p.set("year_max", String(start + 9)); }
    } else if (f.param === "year_min" || f.param === "year_max" || f.param === "max_maturity") {
      p.set(f.param, f.value);
    } else {
      p.append(f.param, f.value);
    }
  }
  return p;
}

async function runSearch() {
  const q = $("q").value.trim();
  const seq = ++state.seq;
  if (!q) { $("results").replaceChildren(); $("facets").replaceChildren(); $("chips").replaceChildren();
            $("search-status").textContent = ""; return; }
  const started = performance.now();
  const r = await api("GET", `/v1/search?${searchParams()}`);
  if (seq !== state.seq) return; // a newer keystroke already asked
  if (r.status !== 200) { $("search-status").textContent = problemText(r); $("results").replaceChildren(); return; }
  const d = r.data;
  $("search-status").textContent = `${d.total} ${t("results")} · ${d.query_language || "?"} · ` +
    `${Math.round(performance.now() - started)} ms` + (d.profile_id ? ` · ${d.profile_id}` : "");
  renderChips(d.understood || []);
  renderFacets(d.facets || {});
  renderResults(d.results);
  $("results").dataset.query = d.query;
  $("results").dataset.filters = state.filters.map((f) => `${f.param}=${f.value}`).join("&");
  $("results").dataset.lang = state.lang;
  $("results").dataset.profile = d.profile_id || "";
}

function plain(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function renderChips(understood) {
  const chips = [];
  understood.forEach((u, i) => {
    chips.push(el("span", {class: "chip understood", title: `${plain(u.source)} → ${plain(u.effect)}`, "data-kind": u.kind},
      el("b", {text: `${u.kind}: `}), plain(u.value),
      el("button", {class: "x", "aria-label": "remove", text: "×", onclick: () => removeUnderstood(understood, i)})));
  });
  state.filters.forEach((f, i) => {
    chips.push(el("span", {class: "chip filter", "data-param": f.param, "data-value": f.value},
      el("b", {text: `${f.param}: `}), `${f.value}`,
      el("button", {class: "x", "aria-label": "remove", text: "×",
                    onclick: () => { state.filters.splice(i, 1); runSearch(); }})));
  });
  if (!state.understand) chips.push(el("span", {class: "chip off", text: "understand: off",
    onclick: () => { state.understand = true; runSearch(); }}));
  $("chips").replaceChildren(...chips);
}

function removeUnderstood(understood, index) {
  // turn understanding off and keep every other understood constraint as an explicit filter
  understood.forEach((u, i) => {
    const param = CHIP_PARAM[u.kind];
    if (i !== index && param && !state.filters.some((f) => f.param === param && f.value === plain(u.value))) {
      state.filters.push({param, value: plain(u.value)});
    }
  });
  state.understand = false;
  runSearch();
}

function renderFacets(facets) {
  const groups = [];
  for (const [group, counts] of Object.entries(facets)) {
    const param = FACET_PARAM[group];
    if (!param) continue;
    const buttons = Object.entries(counts).slice(0, 8).map(([value, count]) => el("button", {
      class: "facet", "data-param": param, "data-value": value,
      onclick: () => { state.filters.push({param, value}); runSearch(); }}, `${value} `, el("small", {text: String(count)})));
    if (buttons.length) groups.push(el("div", {class: "facet-group", "data-group": group},
      el("h4", {text: t(`facet_${group}`)}), ...buttons));
  }
  $("facets").replaceChildren(...groups);
}

function renderResults(results) {
  if (!results.length) { $("results").replaceChildren(el("p", {class: "empty", text: t("no_results")})); return; }
  $("results").replaceChildren(...results.map((h) => el("article", {class: "tile result", "data-title-id": h.title_id},
    el("h3", {class: "title", text: h.title}),
    el("p", {class: "meta"}, el("span", {class: "year", text: h.year ?? "—"}), " · ",
       el("span", {class: "type", text: h.type}), " · ",
       el("span", {class: `maturity m-${h.maturity}`, text: h.maturity}),
       h.runtime_minutes ? el("span", {class: "runtime", text: ` · ${h.runtime_minutes} min`}) : null),
    h.description ? el("p", {class: "description", lang: h.description_language || ""},
      el("span", {class: "lang", text: (h.description_language || "").toUpperCase()}), " ", h.description) : null,
    el("p", {class: "why"}, el("b", {text: `${t("why")}: `}),
       h.matched.map((m) => `${m.kind} (${m.detail})`).join(", ") || "—"))));
}

// ------------------------------------------------------------------------------------------ (2) home page

async function loadHome() {
  const id = profileId();
  if (!id) { $("home-banner").textContent = t("pick_profile"); $("home-banner").className = "banner";
             $("rows").replaceChildren(); return; }
  const r = await api("GET", `/v1/profiles/${encodeURIComponent(id)}/page?rows=8&per_row=10&language=${state.lang}`);
  if (r.status !== 200) { $("home-status").textContent = problemText(r); return; }
  const page = r.data;
  const kids = page.maturity === "kids";
  $("home-banner").className = kids ? "banner kids" : "banner";
  $("home-banner").textContent = kids ? `KIDS · ${t("kids_banner")}` :
    `${page.profile_id} · ${page.maturity} · ${page.scorer}${page.cold_start ? " · cold start" : ""}`;
  const before = state.lastPageProfile === id ? state.previousRows : null;
  state.previousRows = new Set(page.rows.map((row) => row.row_id));
  state.lastPageProfile = id;
  $("rows").replaceChildren(...page.rows.map((row) => {
    const fresh = before && !before.has(row.row_id);
    return el("section", {class: `row${fresh ? " fresh" : ""}`, "data-row-id": row.row_id, "data-kind": row.kind},
      el("h3", {}, row.title, fresh ? el("span", {class: "badge", text: t("new_row")}) : null),
      el("p", {class: "reason", text: row.reason.text}),
      el("div", {class: "strip"}, ...row.items.map((item) => el("article", {class: "tile item", "data-title-id": item.title_id},
        el("h4", {class: "title", text: item.title}),
        item.progress != null ? el("progress", {max: "1", value: String(item.progress)}) : null,
        el("div", {class: "actions"},
          el("button", {class: "watch", text: t("watch"), onclick: () => sendEvent(id, item, "watch")}),
          el("button", {class: "finish", text: t("finish"), onclick: () => sendEvent(id, item, "finish")}))))));
  }));
  $("home-status").textContent = "";
}

function eventId() {
  // crypto.randomUUID exists only in secure contexts (https or loopback)
  return window.crypto && crypto.randomUUID ? `console-${crypto.randomUUID()}`
    : `console-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

async function sendEvent(profile, item, action) {
  const now = Date.now() / 1000;
  const base = {profile_id: profile, title_id: item.title_id, duration_s: 6000};
  const events = action === "watch"
    ? [{...base, event_id: `${eventId()}`, timestamp: now - 0.5, kind: "play", position_s: 0},
       {...base, event_id: `${eventId()}`, timestamp: now, kind: "progress", position_s: 1800}]
    : [{...base, event_id: `${eventId()}`, timestamp: now, kind: "complete", position_s: 6000}];
  const r = await api("POST", "/v1/events", {body: {events}});
  const ok = r.status === 200 && r.data.rejected === 0;
  $("home-status").textContent = ok ? `${action}: ${item.title} — ${t("saved")}`
    : `${action}: ${item.title} — ${r.status === 200 ? r.data.results.map((x) => x.errors.join("; ")).join("; ") : problemText(r)}`;
  $("home-status").className = ok ? "status ok" : "status error";
}

async function createProfile(event) {
  event.preventDefault();
  const id = $("new-profile-id").value.trim();
  const maturity = $("new-profile-maturity").value;
  const r = await api("PUT", `/v1/profiles/${encodeURIComponent(id)}`,
                      {body: {maturity, languages: [state.lang], ui_language: state.lang}});
  if (r.status !== 200 && r.status !== 201) { $("home-status").textContent = problemText(r); return; }
  if (![...$("profile").options].some((o) => o.value === id)) $("profile").append(el("option", {value: id, text: `${id} (${maturity})`}));
  $("profile").value = id;
  loadHome();
}

// ------------------------------------------------------------------------------------------ (3) ad break

async function prefillKeys() {
  $("key-decide").value = sessionStorage.getItem("marquee-key-decide") || "";
  $("key-admin").value = sessionStorage.getItem("marquee-key-admin") || "";
  if ($("key-decide").value) return;
  const r = await api("GET", "/v1/ads/demo-keys");
  if (r.status === 200) {
    $("key-decide").value = r.data.keys.decide || "";
    $("key-admin").value = r.data.keys.admin || "";
    $("keys-note").textContent = "demo keys prefilled (this server still accepts them)";
  } else {
    $("keys-note").textContent = "paste your keys (kept in this tab's sessionStorage only)";
  }
}

function bidRequest() {
  const profile = $("ad-profile").value.trim();
  const title = $("ad-title").value.trim();
  const consent = $("ad-consent").value.trim();
  const request = {
    id: `console-${Date.now()}`, tmax: 5000, cur: ["USD"],
    imp: [{id: "1", bidfloor: parseFloat($("ad-floor").value) || 0, bidfloorcur: "USD",
           video: {mimes: ["video/mp4", "application/x-mpegURL"], minduration: 5, maxduration: 60,
                   protocols: [7, 11, 13], plcmt: 1, podid: "break-1",
                   poddur: parseInt($("ad-poddur").value, 10) || 60, maxseq: parseInt($("ad-maxseq").value, 10) || 4}}],
    app: {id: "marquee-console", bundle: "dev.marquee.console", content: title ? {id: title} : {}},
    device: {devicetype: parseInt($("ad-device").value, 10), geo: {country: $("ad-country").value.trim() || undefined}},
    regs: {coppa: $("ad-coppa").checked ? 1 : 0, gdpr: $("ad-gdpr").checked ? 1 : 0},
  };
  if (profile) request.user = {id: profile};
  if (consent) request.user = {...(request.user || {}), consent};
  return request;
}

async function sendAdRequest(event) {
  event.preventDefault();
  const decideKey = $("key-decide").value.trim();
  const adminKey = $("key-admin").value.trim();
  if (decideKey) sessionStorage.setItem("marquee-key-decide", decideKey);
  if (adminKey) sessionStorage.setItem("marquee-key-admin", adminKey);
  const request = bidRequest();
  document.querySelector("#request-json pre").textContent = JSON.stringify(request, null, 2);
  $("ad-status").textContent = "…";
  // the dry run first: the real decision reserves its ads against caps and pacing
  let predicted = null;
  if (adminKey) {
    const x = await api("POST", "/v1/ads/openrtb/explain", {body: request, key: adminKey});
    if (x.status === 200) { predicted = x.data.placements.map((p) => p.line_item_id); renderCandidates(x.data); }
    else { $("candidates").tBodies[0].replaceChildren(el("tr", {}, el("td", {colspan: "7", text: problemText(x)}))); }
  } else {
    $("candidates").tBodies[0].replaceChildren(el("tr", {}, el("td", {colspan: "7", text: "an admin key explains the candidates"})));
  }
  const r = await api("POST", "/v1/ads/openrtb", {body: request, key: decideKey});
  if (r.status === 204) {
    $("pod").replaceChildren(); $("vast").textContent = "";
    $("ad-status").textContent = t("no_bid");
    return;
  }
  if (r.status !== 200) { $("ad-status").textContent = problemText(r); return; }
  const bids = r.data.seatbid.flatMap((s) => s.bid);
  $("pod").replaceChildren(...bids.map((b) => el("li", {class: "ad", "data-line-item": b.adid},
    el("b", {text: b.adid}), ` · ${b.crid} · ${b.dur}s · ${b.price.toFixed(2)} CPM · ${(b.adomain || []).join(", ")}`)));
  $("vast").textContent = bids.map((b) => prettyXml(b.adm)).join("\n\n");
  const same = predicted && predicted.join() === bids.map((b) => b.adid).join();
  const regime = bids[0] && bids[0].ext && bids[0].ext.marquee ? bids[0].ext.marquee.regime : "";
  $("ad-status").textContent = `${bids.length} ads · regime ${regime}` +
    (predicted ? (same ? " · the dry run predicted this pod" : " · differs from the dry run") : "");
}

function prettyXml(text) {
  // indent the VAST for reading; on a parse error show it as it came
  const doc = new DOMParser().parseFromString(text, "application/xml");
  if (doc.getElementsByTagName("parsererror").length) return text;
  const lines = [];
  const walk = (node, depth) => {
    const pad = "  ".repeat(depth);
    if (node.nodeType === Node.TEXT_NODE || node.nodeType === Node.CDATA_SECTION_NODE) {
      if (node.nodeValue.trim()) lines.push(pad + node.nodeValue.trim());
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    const attrs = [...node.attributes].filter((a) => a.name !== "xmlns" || depth === 0)
      .map((a) => ` ${a.name}="${a.value}"`).join("");
    const kids = [...node.childNodes].filter((c) => c.nodeType === Node.ELEMENT_NODE || (c.nodeValue || "").trim());
    if (!kids.length) { lines.push(`${pad}<${node.nodeName}${attrs}/>`); return; }
    if (kids.length === 1 && kids[0].nodeType !== Node.ELEMENT_NODE) {
      lines.push(`${pad}<${node.nodeName}${attrs}>${kids[0].nodeValue.trim()}</${node.nodeName}>`);
      return;
    }
    lines.push(`${pad}<${node.nodeName}${attrs}>`);
    for (const c of kids) walk(c, depth + 1);
    lines.push(`${pad}</${node.nodeName}>`);
  };
  walk(doc.documentElement, 0);
  return lines.join("\n");
}

function renderCandidates(x) {
  $("candidates").tBodies[0].replaceChildren(...x.candidates.map((c) => el("tr", {class: `stage-${c.stage}`,
    "data-line-item": c.line_item_id, "data-stage": c.stage, "data-rule": c.rule},
    el("td", {}, el("b", {text: c.line_item_id}), el("br"), el("small", {text: c.name})),
    el("td", {text: c.advertiser}), el("td", {text: String(c.priority)}),
    el("td", {text: `${c.bid} ${c.bid_type}`}), el("td", {class: "stage", text: c.stage}),
    el("td", {class: "rule", text: c.rule}), el("td", {class: "detail", text: c.detail}))));
}

// ------------------------------------------------------------------------------------------ wiring

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => show(b.dataset.screen));
  $("q").addEventListener("input", () => { state.filters = []; state.understand = true; searchSoon(); });
  $("profile").addEventListener("change", () => {
    $("ad-profile").value = $("profile").value;
    runSearch();
    if ($("screen-home").classList.contains("active")) loadHome();
  });
  $("ui-lang").addEventListener("change", () => {
    state.lang = $("ui-lang").value;
    applyLanguage();
    runSearch();
    if ($("screen-home").classList.contains("active")) loadHome();
  });
  $("home-reload").addEventListener("click", loadHome);
  $("new-profile").addEventListener("submit", createProfile);
  $("ad-form").addEventListener("submit", sendAdRequest);
  $("keys-form").addEventListener("submit", (event) => event.preventDefault());
  applyLanguage();
  prefillKeys();
});
