// The minimal UI of the foundation: sign in with a session cookie, accept
// an invitation, list one's teams. It uses the public API like any client.
import { Cancelled, Control, droppedFiles, savedSend, uploadAll } from "./uploader.js";
import { Panel, bytes } from "./progress.js";

const $ = (id) => document.getElementById(id);
let csrf = sessionStorage.getItem("haul.csrf") || "";
// SEND_KEY keeps the send in progress (localStorage), for resuming.
const SEND_KEY = "haul.send";

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const msg = data && data.errors && data.errors[0] ? data.errors[0].msg : res.statusText;
    throw new Error(msg);
  }
  return data;
}

function show(id) {
  for (const s of ["login", "invite", "password", "home", "reset"]) $(s).hidden = s !== id;
}

async function home() {
  try {
    const me = await api("GET", "/v1/users/me");
    $("who").textContent = me.email;
    if (me.must_change_password) {
      // Everything else is refused until the generated password is replaced.
      show("password");
      return;
    }
    const teams = await api("GET", "/v1/teams");
    $("who").textContent = me.email;
    $("teams").replaceChildren(...teams.map((t) => {
      const li = document.createElement("li");
      li.textContent = t.name;
      return li;
    }));
    $("send-team").replaceChildren(...teams.map((t) => {
      const o = document.createElement("option");
      o.value = t.id;
      o.textContent = t.name;
      return o;
    }));
    show("home");
    storage(); // owner and admins: the appliance's storage
    members();
    apiKeys();
    portals();
    webhooks();
    activity();
    const saved = savedSend(SEND_KEY);
    $("resume-form").hidden = !saved;
    if (saved) $("resume-name").textContent = saved.name;
    await transfers("packages");
  } catch {
    show("login");
  }
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    const res = await api("POST", "/v1/auth/session", { email: f.get("email"), password: f.get("password") });
    csrf = res.haul.csrf_token;
    sessionStorage.setItem("haul.csrf", csrf);
    $("login-error").textContent = "";
    await home();
  } catch (e) {
    $("login-error").textContent = e.message;
  }
});

$("password-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    await api("PUT", "/v1/users/me/password", { current_password: f.get("current_password"), new_password: f.get("new_password") });
    ev.target.reset();
    $("password-error").textContent = "";
    await home();
  } catch (e) {
    $("password-error").textContent = e.message;
  }
});

$("logout").addEventListener("click", async () => {
  try { await api("POST", "/v1/auth/logout"); } catch { /* already gone */ }
  sessionStorage.removeItem("haul.csrf");
  csrf = "";
  $("who").textContent = "";
  show("login");
});

async function invitation(token) {
  try {
    const inv = await api("GET", "/v1/invitations/" + encodeURIComponent(token));
    $("invite-team").textContent = inv.team_name;
    $("invite-email").textContent = inv.email;
    // The password field is always shown: an existing account proves
    // itself with its password, a new one chooses a password.
    const existing = !!inv.existing_user;
    $("invite-existing").hidden = !existing;
    $("invite-name").hidden = existing; // an existing account keeps its name
    $("invite-pw-label").textContent = existing ? "Your password" : "Choose a password (10 characters or more)";
    $("invite-pw-input").autocomplete = existing ? "current-password" : "new-password";
    if (existing) $("invite-pw-input").removeAttribute("minlength");
    show("invite");
  } catch (e) {
    $("invite-error").textContent = e.message;
    show("invite");
  }
  $("invite-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      await api("POST", "/v1/invitations/" + encodeURIComponent(token) + "/accept", { name: f.get("name") || "", password: f.get("password") });
      history.replaceState(null, "", "/");
      show("login");
    } catch (e) {
      $("invite-error").textContent = e.message;
    }
  });
}

const m = location.pathname.match(/^\/invitations\/([^/]+)$/);
const r = location.pathname.match(/^\/password_reset\/([^/]+)$/);
if (m) invitation(m[1]); else if (r) reset(r[1]); else home();

// A forgotten password: a reset link by mail, then a new password.
$("forgot-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/v1/auth/password_reset", { email: new FormData(ev.target).get("email") });
    $("forgot-status").textContent = "If an account has this address, a reset link is on its way.";
  } catch (e) {
    $("forgot-status").textContent = e.message;
  }
});

function reset(token) {
  show("reset");
  $("reset-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/v1/auth/password_reset/" + encodeURIComponent(token), { password: new FormData(ev.target).get("password") });
      history.replaceState(null, "", "/");
      show("login");
      $("login-error").textContent = "Password changed: sign in with it.";
    } catch (e) {
      $("reset-status").textContent = e.message;
    }
  });
}

// Transfers: the team's sent packages or its inbox (received through
// portals); a package opens with its files (and digests) and its links.
function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

let showing = "packages"; // or "inbox"

async function transfers(which) {
  if (which) showing = which;
  const team = $("send-team").value;
  if (!team) return;
  $("show-sent").classList.toggle("secondary", showing !== "packages");
  $("show-received").classList.toggle("secondary", showing !== "inbox");
  const f = new FormData($("transfer-filter"));
  const q = new URLSearchParams();
  for (const st of f.get("state") ? [f.get("state")] : ["new", "finalized", "expired"]) q.append("status[]", st);
  if (f.get("name")) q.set("name", f.get("name"));
  q.set("limit", "100");
  const list = await api("GET", "/v1.1/teams/" + encodeURIComponent(team) + "/" + showing + "?" + q);
  const states = { new: "uploading", finalized: "ready", expired: "expired", archived: "deleted" };
  $("transfers").replaceChildren(...list.records.map((p) => {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = p.name;
    b.addEventListener("click", () => openPackage(team, p.id));
    name.appendChild(b);
    tr.append(name, cell(p.sender), cell(states[p.state] || p.state), cell(bytes(p.size)), cell(new Date(p.created_at).toLocaleString()));
    return tr;
  }));
}
$("show-sent").addEventListener("click", () => transfers("packages"));
$("show-received").addEventListener("click", () => transfers("inbox"));
$("transfer-filter").addEventListener("submit", (ev) => { ev.preventDefault(); transfers(); });
$("transfer-filter").addEventListener("input", () => transfers());

let current = null; // the open package: {id, token}

function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    return [dt, dd];
  }));
}

async function openPackage(team, id) {
  const pkg = await api("GET", "/v1.1/teams/" + encodeURIComponent(team) + "/packages/" + encodeURIComponent(id));
  current = { team, id, token: pkg.access_token, state: pkg.state };
  $("package-title").textContent = pkg.name;
  const expiry = pkg.expiry && !pkg.expiry.startsWith("0001") ? new Date(pkg.expiry) : null;
  facts($("package-facts"), [
    ["From", pkg.sender],
    ["Recipients", (pkg.recipients || []).join(", ") || "none (links only)"],
    ["Size", bytes(pkg.size) + " in " + pkg.total_files + " file(s)"],
    ["State", pkg.state],
    ["Expires", expiry ? expiry.toLocaleString() : "never"],
  ].concat(pkg.description ? [["Description", pkg.description]] : []));
  $("expiry-form").expiry.value = expiry ? expiry.toISOString().slice(0, 10) : "";
  $("package-status").textContent = "";
  $("expiry-status").textContent = "";
  const files = await pkgCall("GET", "/v1/packages/" + id + "/files");
  $("package-files").replaceChildren(...files.map((f) => {
    const tr = document.createElement("tr");
    const code = document.createElement("code");
    code.textContent = f.digest || "";
    const d = document.createElement("td");
    d.appendChild(code);
    tr.append(cell((f.path ? f.path + "/" : "") + f.name), cell(bytes(f.size)), d);
    return tr;
  }));
  await showLinks();
  await packageActivity();
  $("package").hidden = false;
}

// packageActivity lists the package's uploads, links and downloads (for
// those who may read the team's activity).
async function packageActivity() {
  let list;
  try {
    list = await api("GET", "/v1.1/teams/" + encodeURIComponent(current.team) + "/activities?limit=50&package_id=" + encodeURIComponent(current.id));
  } catch {
    $("package-activity").replaceChildren();
    return;
  }
  const names = { package_upload_to_masv: "upload", package_download_from_masv: "download", link_generation: "link" };
  $("package-activity").replaceChildren(...list.records.map((a) => {
    const li = document.createElement("li");
    li.textContent = new Date(a.created_at).toLocaleString() + " · " + (names[a.activity_type] || a.activity_type) + " · " + a.activity_state + (a.email ? " · " + a.email : "");
    return li;
  }));
}

$("expiry-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const day = new FormData(ev.target).get("expiry");
  try {
    // The end of the chosen day, local time.
    const at = new Date(day + "T23:59:59");
    await pkgCall("PUT", "/v1/packages/" + current.id + "/expiry", { expiry: at.toISOString() });
    $("expiry-status").textContent = "The package is now kept until " + at.toLocaleString() + ".";
  } catch (e) {
    $("expiry-status").textContent = e.message;
  }
});

$("package-delete").addEventListener("click", async () => {
  if (!confirm("Delete “" + $("package-title").textContent + "”? Its links stop working and its data is released.")) return;
  try {
    await pkgCall("DELETE", "/v1/packages/" + current.id);
    $("package").hidden = true;
    await transfers();
  } catch (e) {
    $("package-status").textContent = e.message;
  }
});

async function pkgCall(method, path, body) {
  const h = { "Accept": "application/json", "X-Package-Token": current.token };
  if (body !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(data && data.errors && data.errors[0] ? data.errors[0].msg : res.statusText);
  return data;
}

async function showLinks() {
  const links = await pkgCall("GET", "/v1/packages/" + current.id + "/links");
  $("package-links").replaceChildren(...links.map((l) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = (l.email || "direct link") + (l.disabled ? " (disabled)" : "") + " — " + l.url + " ";
    li.appendChild(label);
    if (!l.disabled) {
      const copy = document.createElement("button");
      copy.type = "button";
      copy.textContent = "Copy";
      copy.addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText(l.url));
      const off = document.createElement("button");
      off.type = "button";
      off.textContent = "Disable";
      off.dataset.link = l.id;
      off.addEventListener("click", async () => {
        await pkgCall("DELETE", "/v1/packages/" + current.id + "/links/" + l.id);
        await showLinks();
      });
      li.append(copy, off);
    }
    return li;
  }));
}

$("link-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    const body = {};
    if (f.get("email")) body.email = f.get("email");
    if (f.get("password")) body.password = f.get("password");
    await pkgCall("POST", "/v1/packages/" + current.id + "/links", body);
    ev.target.reset();
    $("link-status").textContent = "";
    await showLinks();
  } catch (e) {
    $("link-status").textContent = e.message;
  }
});

// Send: a package of the picked files (or a folder, structure kept) to
// the recipients, through the same upload flow as any client. Closing the
// tab while sending asks first.
let sending = false;
window.addEventListener("beforeunload", (ev) => {
  if (sending) {
    ev.preventDefault();
    ev.returnValue = "";
  }
});

// send uploads files into a package with the progress panel (pause,
// resume, cancel), saving its progress so a reload can resume it. A
// cancelled send deletes its package: nothing half-sent stays behind.
async function send(pkgID, token, name, files) {
  const status = $("send-status");
  sending = true;
  const control = new Control();
  const panel = new Panel($("send-panel"), files, control);
  status.textContent = "Sending…";
  try {
    await uploadAll(pkgID, token, files, { onBytes: (i, n) => panel.add(i, n), control, storeKey: SEND_KEY, name });
    panel.stop("All " + bytes(panel.total) + " sent.");
    return true;
  } catch (e) {
    if (e instanceof Cancelled) {
      localStorage.removeItem(SEND_KEY);
      $("resume-form").hidden = true;
      try {
        await fetch("/v1/packages/" + pkgID, { method: "DELETE", headers: { "X-Package-Token": token } });
      } catch { /* it expires unfinished anyway */ }
      panel.stop("Cancelled.");
      status.textContent = "Cancelled: the package was deleted.";
    } else {
      panel.stop();
      status.textContent = e.message + " — pick the same files again to finish the send.";
    }
    return false;
  } finally {
    sending = false;
  }
}

// Files dropped on the Send form (folders keep their structure).
let dropped = [];
$("drop-zone").addEventListener("dragover", (ev) => ev.preventDefault());
$("drop-zone").addEventListener("drop", async (ev) => {
  ev.preventDefault();
  dropped = dropped.concat(await droppedFiles(ev.dataTransfer));
  $("dropped").textContent = dropped.length + " file(s) ready.";
});

$("send-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const files = [...ev.target.files.files, ...ev.target.folder.files, ...dropped];
  if (files.length === 0) {
    $("send-status").textContent = "Pick files or a folder first.";
    return;
  }
  const recipients = (f.get("recipients") || "").split(",").map((r) => r.trim()).filter((r) => r);
  let pkg;
  try {
    const body = { name: f.get("name"), description: f.get("description") || "", recipients };
    if (f.get("password")) body.password = f.get("password");
    if (f.get("expiry")) body.expiry = new Date(f.get("expiry") + "T23:59:59").toISOString();
    if (f.get("access_limit")) body.access_limit = Number(f.get("access_limit"));
    pkg = await api("POST", "/v1/teams/" + encodeURIComponent(f.get("team")) + "/packages", body);
  } catch (e) {
    $("send-status").textContent = e.message;
    return;
  }
  if (await send(pkg.id, pkg.access_token, f.get("name"), files)) {
    $("send-status").textContent = "Sent: " + files.length + " file(s)" + (recipients.length ? " to " + recipients.join(", ") : "") + ".";
    ev.target.reset();
    dropped = [];
    $("dropped").textContent = "";
    await transfers();
  }
});

$("resume-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const saved = savedSend(SEND_KEY);
  const files = [...ev.target.files.files, ...ev.target.folder.files];
  if (!saved || files.length === 0) return;
  if (await send(saved.pkg, saved.token, saved.name, files)) {
    $("send-status").textContent = "Sent: " + files.length + " file(s).";
    $("resume-form").hidden = true;
    await transfers("packages");
  }
});

$("resume-drop").addEventListener("click", () => {
  localStorage.removeItem(SEND_KEY);
  $("resume-form").hidden = true;
});

// Storage: capacity and use as SVG bars, logical against physical bytes
// (deduplication), the parity geometry, scrub progress and repairs. Shown
// to those who may read it (owner and admins).
function human(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function bar(svg, y, label, value, max) {
  const ns = "http://www.w3.org/2000/svg";
  const w = max > 0 ? Math.max(1, Math.round(300 * Math.min(1, value / max))) : 0;
  const bg = document.createElementNS(ns, "rect");
  bg.setAttribute("x", "100"); bg.setAttribute("y", String(y)); bg.setAttribute("width", "300"); bg.setAttribute("height", "14"); bg.setAttribute("fill", "#e9ecef");
  const fg = document.createElementNS(ns, "rect");
  fg.setAttribute("x", "100"); fg.setAttribute("y", String(y)); fg.setAttribute("width", String(w)); fg.setAttribute("height", "14"); fg.style.fill = "var(--accent)";
  const t = document.createElementNS(ns, "text");
  t.setAttribute("x", "0"); t.setAttribute("y", String(y + 11)); t.setAttribute("font-size", "11");
  t.textContent = label;
  svg.append(bg, fg, t);
}

async function storage() {
  let st;
  try {
    st = await api("GET", "/v1/system/storage");
  } catch {
    $("storage").hidden = true; // not the caller's to see
    return;
  }
  const svg = $("storage-chart");
  svg.replaceChildren();
  const used = st.capacity_bytes - st.free_bytes;
  bar(svg, 4, "Disk used", used, st.capacity_bytes);
  bar(svg, 26, "Stored (unique)", st.unique_bytes, Math.max(st.logical_bytes, 1));
  bar(svg, 48, "Scrub", st.scrub_progress, 1);
  $("storage-summary").textContent = human(used) + " of " + human(st.capacity_bytes) + " used; " +
    human(st.logical_bytes) + " of files kept in " + human(st.unique_bytes) + " (dedup " + (st.dedup_ratio || 1).toFixed(2) + "×).";
  const rows = [
    ["Geometry", st.data_shards + " data + " + st.parity_shards + " parity shards; survives losing " + st.dir_loss_survive + " of " + st.data_dirs + " directories"],
    ["Blocks", st.blocks + " in " + st.segments + " segments of " + human(st.block_size) + " blocks"],
    ["Repairs", st.repairs + " shards rebuilt since start"],
    ["Unreadable directories", String(st.unreadable_dirs)],
  ];
  facts($("storage-facts"), rows);
  $("storage").hidden = false;
}

// Members: the team's people and roles (who may see it: everyone but
// guests; who may change it: owner and admins, as the API decides).
const roles = [["owner", "Owner"], ["admin", "Admin"], ["integration_manager", "Integration manager"], ["member", "Member"], ["guest", "Guest"]];

async function members() {
  const team = $("send-team").value;
  let list;
  try {
    list = await api("GET", "/v1/teams/" + encodeURIComponent(team) + "/members");
  } catch {
    $("team-admin").hidden = true;
    return;
  }
  $("members").replaceChildren(...list.map((m) => {
    const tr = document.createElement("tr");
    const role = document.createElement("td");
    const sel = document.createElement("select");
    sel.setAttribute("aria-label", "Role of " + m.email);
    sel.dataset.member = m.id;
    for (const [v, label] of roles) {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = label;
      o.selected = v === m.policy_key;
      sel.appendChild(o);
    }
    sel.disabled = m.policy_key === "owner";
    sel.addEventListener("change", async () => {
      try {
        await api("PUT", "/v1/teams/" + encodeURIComponent(team) + "/members/" + m.id, { role: sel.value });
        $("invite-member-status").textContent = m.email + " is now " + sel.options[sel.selectedIndex].textContent + ".";
      } catch (e) {
        $("invite-member-status").textContent = e.message;
        await members();
      }
    });
    role.appendChild(sel);
    const act = document.createElement("td");
    if (m.policy_key !== "owner") {
      const rm = document.createElement("button");
      rm.type = "button";
      rm.textContent = "Remove";
      rm.dataset.remove = m.id;
      rm.addEventListener("click", async () => {
        try {
          await api("DELETE", "/v1/teams/" + encodeURIComponent(team) + "/members/" + m.id);
        } catch (e) {
          $("invite-member-status").textContent = e.message;
        }
        await members();
      });
      act.appendChild(rm);
    }
    tr.append(cell(m.email), role, cell(m.invitation_accepted ? "yes" : "invited"), act);
    return tr;
  }));
  $("team-admin").hidden = false;
}

$("invite-member-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    const inv = await api("POST", "/v1/teams/" + encodeURIComponent($("send-team").value) + "/members", { email: f.get("email"), role: f.get("role") });
    $("invite-member-status").textContent = "Invited. Their link (also mailed when mail is on): " + inv.invitation_url;
    ev.target.reset();
    await members();
  } catch (e) {
    $("invite-member-status").textContent = e.message;
  }
});

// API keys: one's own (the owner sees all); the secret is shown once.
async function apiKeys() {
  const team = $("send-team").value;
  let keys;
  try {
    keys = await api("GET", "/v1/teams/" + encodeURIComponent(team) + "/api_keys");
  } catch {
    $("keys-admin").hidden = true;
    return;
  }
  $("api-keys").replaceChildren(...keys.map((k) => {
    const tr = document.createElement("tr");
    const act = document.createElement("td");
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "Revoke";
    del.dataset.key = k.id;
    del.addEventListener("click", async () => {
      await api("DELETE", "/v1/api_keys/" + k.id);
      await apiKeys();
    });
    act.appendChild(del);
    const used = k.last_used_at && !k.last_used_at.startsWith("0001") ? new Date(k.last_used_at).toLocaleString() : "never";
    tr.append(cell(k.name), cell(used), act);
    return tr;
  }));
  $("keys-admin").hidden = false;
}

$("api-key-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    const k = await api("POST", "/v1/teams/" + encodeURIComponent($("send-team").value) + "/api_keys", { name: f.get("name"), state: "active" });
    $("api-key-secret").textContent = "Copy this key now, it is shown only once: " + k.key;
    ev.target.reset();
    await apiKeys();
  } catch (e) {
    $("api-key-secret").textContent = e.message;
  }
});

// Portals: the team's upload pages (owner and admins): a list with each
// page's address, and a form for a new one, with its logo.
async function portals() {
  const team = $("send-team").value;
  let list;
  try {
    list = await api("GET", "/v1.1/teams/" + encodeURIComponent(team) + "/portals?limit=100");
  } catch {
    $("portals-admin").hidden = true;
    return;
  }
  $("portals").replaceChildren(...list.records.map((p) => {
    const tr = document.createElement("tr");
    const addr = document.createElement("td");
    if (p.url) {
      const a = document.createElement("a");
      a.href = p.url;
      a.textContent = p.url;
      addr.appendChild(a);
    } else {
      addr.textContent = p.subdomain;
    }
    tr.append(cell(p.name), addr, cell(p.active ? "yes" : "no"));
    return tr;
  }));
  $("portals-admin").hidden = false;
}

$("portal-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const recipients = (f.get("recipients") || "").split(",").map((r) => r.trim()).filter((r) => r);
  try {
    const body = { name: f.get("name"), subdomain: f.get("subdomain"), message: f.get("message") || "", recipients, active: f.get("active") === "on" };
    if (f.get("access_code")) body.access_code = f.get("access_code");
    const p = await api("POST", "/v1/teams/" + encodeURIComponent($("send-team").value) + "/portals", body);
    const logo = ev.target.logo.files[0];
    if (logo) {
      const res = await fetch("/v1/portals/" + p.id + "/logo", { method: "PUT", body: logo, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
      if (!res.ok) throw new Error("the portal was made, but not its logo: " + (await res.text()));
    }
    $("portal-status").textContent = "Portal created" + (p.url ? ": " + p.url : "") + ".";
    ev.target.reset();
    await portals();
  } catch (e) {
    $("portal-status").textContent = e.message;
  }
});

// Webhooks: the team's (owner, admins, integration managers), with each
// one's delivery log; the signing secret is shown once.
async function webhooks() {
  const team = $("send-team").value;
  let list;
  try {
    list = await api("GET", "/v1/teams/" + encodeURIComponent(team) + "/custom_webhooks");
  } catch {
    $("webhooks-admin").hidden = true;
    return;
  }
  $("webhooks").replaceChildren(...list.map((w) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = w.name + " → " + w.url + " (" + w.events.join(", ") + ") ";
    const log = document.createElement("button");
    log.type = "button";
    log.textContent = "Deliveries";
    log.dataset.hook = w.id;
    log.addEventListener("click", async () => {
      const tries = await api("GET", "/v1/custom_webhooks/" + w.id + "/deliveries");
      $("webhook-log").replaceChildren(...tries.map((a) => {
        const item = document.createElement("li");
        item.textContent = new Date(a.at).toLocaleString() + " " + a.event + " attempt " + a.attempt + ": " +
          (a.status ? "HTTP " + a.status : a.error) + (a.final ? " (" + a.final + ")" : "");
        return item;
      }));
    });
    li.append(label, log);
    return li;
  }));
  $("webhooks-admin").hidden = false;
}

$("webhook-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    const w = await api("POST", "/v1/teams/" + encodeURIComponent($("send-team").value) + "/custom_webhooks",
      { name: f.get("name"), url: f.get("url"), events: f.getAll("events") });
    $("webhook-status").textContent = "Signing secret (shown only once): " + w.secret;
    ev.target.reset();
    await webhooks();
  } catch (e) {
    $("webhook-status").textContent = e.message;
  }
});

// Activity: the team's transfers, newest first (owner and admins).
async function activity() {
  const team = $("send-team").value;
  let list;
  try {
    list = await api("GET", "/v1.1/teams/" + encodeURIComponent(team) + "/activities?limit=50");
  } catch {
    $("activity-admin").hidden = true;
    return;
  }
  const names = { package_upload_to_masv: "upload", package_download_from_masv: "download", link_generation: "link" };
  $("activity").replaceChildren(...list.records.map((a) => {
    const tr = document.createElement("tr");
    tr.append(cell(new Date(a.created_at).toLocaleString()), cell(names[a.activity_type] || a.activity_type), cell(a.activity_state), cell(a.email || ""));
    return tr;
  }));
  $("activity-admin").hidden = false;
}
