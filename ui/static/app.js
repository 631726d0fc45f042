// The minimal UI of the foundation: sign in with a session cookie, accept
// an invitation, list one's teams. It uses the public API like any client.
import { Cancelled, Control, droppedFiles, savedSend, uploadAll } from "./uploader.js";
import { Panel, bytes } from "./progress.js";
import { fieldInput } from "./formfields.js";

const $ = (id) => document.getElementById(id);
let csrf = sessionStorage.getItem("haul.csrf") || "";
// sendKey keeps the send in progress (localStorage), for resuming; it
// holds a package token, so it is the signed-in user's own ("haul.send."
// and the user's id): another user of the browser never sees it.
let sendKey = "";

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
    sendKey = "haul.send." + me.id;
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
    await members();
    spaces();
    settings();
    apiKeys();
    portals();
    webhooks();
    activity();
    const saved = savedSend(sendKey);
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
  // The saved send holds a package token: it goes with the session (the
  // unkeyed one of earlier versions too).
  if (sendKey) localStorage.removeItem(sendKey);
  localStorage.removeItem("haul.send");
  sendKey = "";
  $("resume-form").hidden = true;
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
let listing = 0; // the latest transfers request: older answers are dropped

async function transfers(which) {
  if (which) showing = which;
  const seq = ++listing;
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
  if (seq !== listing) return; // a newer filter was asked for meanwhile
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
// Typing filters once the keys pause, not once a key.
let filterTimer = 0;
$("transfer-filter").addEventListener("input", () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => transfers(), 250);
});

let current = null; // the open package: {id, token}

// localDay is a date input's value for the local day of d: what it shows
// and what is sent back (the end of that local day) agree in every zone.
function localDay(d) {
  const two = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate());
}

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
  $("expiry-form").expiry.value = expiry ? localDay(expiry) : "";
  $("package-status").textContent = "";
  $("expiry-status").textContent = "";
  // The zips haul offers (kind zip_windows) are not files of the package.
  const files = (await pkgCall("GET", "/v1/packages/" + id + "/files")).filter((f) => f.kind === "file");
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
    await uploadAll(pkgID, token, files, { onBytes: (i, n) => panel.add(i, n), control, storeKey: sendKey, name });
    panel.stop("All " + bytes(panel.total) + " sent.");
    $("resume-form").hidden = true; // nothing is left to finish
    return true;
  } catch (e) {
    if (e instanceof Cancelled) {
      localStorage.removeItem(sendKey);
      $("resume-form").hidden = true;
      try {
        await fetch("/v1/packages/" + pkgID, { method: "DELETE", headers: { "X-Package-Token": token } });
      } catch { /* it expires unfinished anyway */ }
      panel.stop("Cancelled.");
      status.textContent = "Cancelled: the package was deleted.";
    } else {
      panel.stop();
      status.textContent = e.message + " — pick the same files again to finish the send.";
      // The form to pick them with (home() shows it only after a reload).
      $("resume-name").textContent = name;
      $("resume-form").hidden = !savedSend(sendKey);
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
  const saved = savedSend(sendKey);
  const files = [...ev.target.files.files, ...ev.target.folder.files];
  if (!saved || files.length === 0) return;
  if (await send(saved.pkg, saved.token, saved.name, files)) {
    $("send-status").textContent = "Sent: " + files.length + " file(s).";
    $("resume-form").hidden = true;
    await transfers("packages");
  }
});

$("resume-drop").addEventListener("click", () => {
  localStorage.removeItem(sendKey);
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

let teamMembers = []; // the team's members, for teamspaces
let myRole = ""; // the signed-in user's role in the team

async function members() {
  const team = $("send-team").value;
  let list;
  try {
    list = await api("GET", "/v1/teams/" + encodeURIComponent(team) + "/members");
  } catch {
    $("team-admin").hidden = true;
    return;
  }
  teamMembers = list;
  const me = list.find((m) => m.email === $("who").textContent);
  myRole = me ? me.policy_key : "";
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

// Teamspaces: groups of members that packages and portals can belong
// to. Everyone but guests sees them; owner and admins change them (the
// API decides, and its message is shown).
async function spaces() {
  const team = $("send-team").value;
  let list;
  try {
    list = await api("GET", "/v1.1/teams/" + encodeURIComponent(team) + "/spaces?limit=100");
  } catch {
    $("spaces-admin").hidden = true;
    return;
  }
  const status = (msg) => { $("space-status").textContent = msg; };
  const act = async (fn) => {
    try { await fn(); status(""); } catch (e) { status(e.message); }
    await spaces();
  };
  $("spaces").replaceChildren(...list.records.map((sp) => {
    const li = document.createElement("li");
    li.dataset.space = sp.id;
    const h = document.createElement("strong");
    h.textContent = sp.name;
    const people = document.createElement("ul");
    for (const m of sp.members) {
      const item = document.createElement("li");
      item.textContent = (m.email || m.name) + " ";
      const rm = document.createElement("button");
      rm.type = "button";
      rm.className = "secondary";
      rm.textContent = "Remove";
      rm.setAttribute("aria-label", "Remove " + m.email + " from " + sp.name);
      rm.addEventListener("click", () => act(() => api("DELETE", "/v1/spaces/" + sp.id + "/members/" + m.id)));
      item.appendChild(rm);
      people.appendChild(item);
    }
    const add = document.createElement("select");
    add.setAttribute("aria-label", "Add a member to " + sp.name);
    add.className = "space-add";
    const first = document.createElement("option");
    first.value = "";
    first.textContent = "Add a member…";
    add.appendChild(first);
    const inside = new Set(sp.members.map((m) => m.id));
    for (const m of teamMembers) {
      if (inside.has(m.id)) continue;
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.email;
      add.appendChild(o);
    }
    add.addEventListener("change", () => add.value && act(() => api("POST", "/v1/spaces/" + sp.id + "/members", { member_ids: [add.value] })));
    const del = document.createElement("button");
    del.type = "button";
    del.className = "danger";
    del.textContent = "Delete";
    del.setAttribute("aria-label", "Delete the teamspace " + sp.name);
    del.addEventListener("click", () => confirm("Delete the teamspace “" + sp.name + "”?") && act(() => api("DELETE", "/v1/spaces/" + sp.id)));
    li.append(h, " ", del, people, add);
    return li;
  }));
  $("spaces-admin").hidden = false;
}

$("space-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/v1/teams/" + encodeURIComponent($("send-team").value) + "/spaces", { name: new FormData(ev.target).get("name") });
    ev.target.reset();
    $("space-status").textContent = "";
  } catch (e) {
    $("space-status").textContent = e.message;
  }
  await spaces();
});

// Team settings (owner and admins): the name and the defaults packages
// and links get, the recipient cap and the storage quota.
async function settings() {
  if (myRole !== "owner" && myRole !== "admin") {
    $("settings-admin").hidden = true;
    return;
  }
  let t;
  try {
    t = await api("GET", "/v1/teams/" + encodeURIComponent($("send-team").value));
  } catch {
    $("settings-admin").hidden = true;
    return;
  }
  const f = $("settings-form");
  f.name.value = t.name;
  f.custom_expiry_enabled.checked = t.custom_expiry_enabled;
  f.custom_expiry_default.value = t.custom_expiry_default || "";
  f.download_limit_enabled.checked = t.download_limit_enabled;
  f.download_limit_default.value = t.download_limit_default || "";
  f.max_email_recipients.value = t.max_email_recipients || "";
  f.storage_quota_gb.value = t.storage_quota_bytes ? t.storage_quota_bytes / 1e9 : 0;
  $("settings-admin").hidden = false;
}

$("settings-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const num = (v) => (v === "" ? undefined : Number(v));
  try {
    await api("PUT", "/v1/teams/" + encodeURIComponent($("send-team").value), {
      name: f.name.value, custom_expiry_enabled: f.custom_expiry_enabled.checked, custom_expiry_default: num(f.custom_expiry_default.value),
      download_limit_enabled: f.download_limit_enabled.checked, download_limit_default: num(f.download_limit_default.value),
      max_email_recipients: num(f.max_email_recipients.value), storage_quota_bytes: Math.round(Number(f.storage_quota_gb.value || 0) * 1e9),
    });
    $("settings-status").textContent = "Settings saved.";
    await settings();
  } catch (e) {
    $("settings-status").textContent = e.message;
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
// page's address, and an editor for every setting, grouped, with the
// logo and background and a form builder (fields added, reordered, typed,
// shown or hidden, previewed as senders will see them).
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
    const act = document.createElement("td");
    const edit = document.createElement("button");
    edit.type = "button";
    edit.className = "secondary";
    edit.textContent = "Edit";
    edit.dataset.portal = p.id;
    edit.setAttribute("aria-label", "Edit " + p.name);
    edit.addEventListener("click", () => editPortal(p.id));
    act.appendChild(edit);
    tr.append(cell(p.name), addr, cell(p.active ? "yes" : "no"), act);
    return tr;
  }));
  $("portals-admin").hidden = false;
}

const GB = 1e9;
const list = (v) => (v || "").split(",").map((x) => x.trim()).filter((x) => x);
let editing = null; // the portal being edited, or null for a new one
let fbFields = []; // the form builder's fields
// loaded is what the editor was filled with: a setting is sent only when
// its current value is known (its choices loaded, its form read) or was
// changed, so a failed lookup or an early save never wipes it.
let loaded = { expiry: "", expiryOn: false, colour: false, form: true, spaces: false, hooks: false, gen: 0 };

const FIELD_TYPES = [["short_text", "Short text"], ["long_text", "Long text"], ["number", "Number"], ["date", "Date"],
  ["email", "Email"], ["url", "Link (shown, not asked)"], ["dropdown", "Dropdown"], ["radio", "One of"], ["checkbox", "Checkboxes"],
  ["package_name", "Package name"], ["package_description", "Package description"], ["sender_email", "Sender's email"]];
const VISIBILITIES = [["optional", "Optional"], ["required", "Required"], ["readonly", "Shown, read-only"], ["hidden", "Hidden"]];
const CHOICES = new Set(["dropdown", "radio", "checkbox"]);

// slug makes a field name from its label.
const slug = (label) => label.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64) || "field";

function select(options, value, label) {
  const sel = document.createElement("select");
  sel.setAttribute("aria-label", label);
  for (const [v, text] of options) {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = text;
    o.selected = v === value;
    sel.appendChild(o);
  }
  return sel;
}

function input(value, label, attrs) {
  const i = document.createElement("input");
  i.value = value || "";
  i.setAttribute("aria-label", label);
  for (const [k, v] of Object.entries(attrs || {})) i.setAttribute(k, v);
  return i;
}

// drawBuilder draws the form builder's field rows and the preview.
function drawBuilder() {
  $("fb-fields").replaceChildren(...fbFields.map((f, i) => {
    const li = document.createElement("li");
    li.className = "fb-field";
    const label = input(f.label, "Label of field " + (i + 1), { class: "fb-label", placeholder: "Label" });
    label.addEventListener("input", () => {
      if (!f.named) f.name = slug(label.value);
      f.label = label.value;
      name.value = f.name;
      preview();
    });
    const name = input(f.name, "Name of field " + (i + 1) + " in the delivered metadata", { class: "fb-name", placeholder: "name" });
    name.addEventListener("input", () => { f.name = name.value; f.named = true; });
    const type = select(FIELD_TYPES, f.type, "Type of field " + (i + 1));
    type.className = "fb-type";
    type.addEventListener("change", () => { f.type = type.value; drawBuilder(); });
    const vis = select(VISIBILITIES, f.visibility, "Visibility of field " + (i + 1));
    vis.className = "fb-visibility";
    vis.addEventListener("change", () => { f.visibility = vis.value; preview(); });
    const dflt = input(f.default_value === undefined || f.default_value === null ? "" : String(f.default_value),
      "Default value of field " + (i + 1) + " (needed when hidden or read-only)", { class: "fb-default",
        placeholder: f.type === "checkbox" ? ((f.options || []).length ? "checked choices, comma-separated" : "yes or no") : f.type === "number" ? "a whole number" : "default value" });
    dflt.addEventListener("input", () => { f.default_value = dflt.value; preview(); });
    li.append(label, name, type, vis, dflt);
    if (CHOICES.has(f.type)) {
      const opts = input((f.options || []).join(", "), "Choices of field " + (i + 1) + " (comma-separated)", { class: "fb-options", placeholder: "choice 1, choice 2" });
      opts.addEventListener("input", () => { f.options = list(opts.value); preview(); });
      li.appendChild(opts);
    }
    const move = (d) => {
      const j = i + d;
      if (j < 0 || j >= fbFields.length) return;
      [fbFields[i], fbFields[j]] = [fbFields[j], fbFields[i]];
      drawBuilder();
    };
    for (const [text, act, cls] of [["↑", () => move(-1), "fb-up"], ["↓", () => move(1), "fb-down"], ["Remove", () => { fbFields.splice(i, 1); drawBuilder(); }, "fb-remove"]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary " + cls;
      b.textContent = text;
      b.setAttribute("aria-label", (text === "↑" ? "Move up" : text === "↓" ? "Move down" : "Remove") + " field " + (i + 1));
      b.addEventListener("click", act);
      li.appendChild(b);
    }
    return li;
  }));
  preview();
}

function preview() {
  $("fb-preview").replaceChildren(...fbFields.filter((f) => f.visibility !== "hidden" && f.label).map((f) => {
    const el = fieldInput(f);
    // A preview is not part of the editor's form: never required, sent
    // or focused.
    for (const i of el.querySelectorAll("input, select, textarea")) {
      i.removeAttribute("data-field");
      i.required = false;
      i.disabled = true;
    }
    return el;
  }));
}

$("fb-add").addEventListener("click", () => {
  fbFields.push({ label: "", name: "", type: "short_text", visibility: "optional", options: [] });
  $("portal-form").form_enabled.checked = true;
  drawBuilder();
  const labels = document.querySelectorAll(".fb-label");
  labels[labels.length - 1].focus();
});

async function portalChoices(team, portal) {
  // Teamspaces for the select; the team's webhooks as checkboxes. Each
  // counts as loaded once its answer is in (for this fill of the editor).
  const gen = loaded.gen;
  try {
    const spaces = await api("GET", "/v1.1/teams/" + encodeURIComponent(team) + "/spaces?limit=100");
    if (gen !== loaded.gen) return;
    const sel = $("portal-teamspace");
    sel.replaceChildren(sel.options[0], ...spaces.records.map((sp) => {
      const o = document.createElement("option");
      o.value = sp.id;
      o.textContent = sp.name;
      return o;
    }));
    sel.value = (portal && portal.teamspace_id) || "";
    loaded.spaces = true;
  } catch { /* none to offer: the setting is left as it is */ }
  const box = $("portal-webhooks");
  box.replaceChildren();
  try {
    const hooks = await api("GET", "/v1/teams/" + encodeURIComponent(team) + "/custom_webhooks");
    if (gen !== loaded.gen) return;
    if (hooks.length) box.appendChild(document.createTextNode("Webhooks called for this portal's packages:"));
    for (const w of hooks) {
      const l = document.createElement("label");
      l.className = "check";
      const c = document.createElement("input");
      c.type = "checkbox";
      c.name = "custom_webhooks";
      c.value = w.id;
      c.checked = !!(portal && (portal.custom_webhooks || []).includes(w.id));
      l.append(c, " " + w.name);
      box.appendChild(l);
    }
    loaded.hooks = true;
  } catch { /* not the caller's to see: the setting is left as it is */ }
}

// hexColour is a colour input's value for a #rgb or #rrggbb colour.
const hexColour = (c) => (/^#[0-9a-f]{3}$/i.test(c) ? "#" + [...c.slice(1)].map((x) => x + x).join("") : c);

// fillPortal puts a portal's settings (or a new portal's defaults) into
// the editor; formError says its form could not be read (it is then left
// as it is).
async function fillPortal(p, def, formError) {
  const f = $("portal-form");
  f.reset();
  editing = p;
  loaded = { expiry: "", expiryOn: false, colour: false, form: !formError, spaces: false, hooks: false, gen: loaded.gen + 1 };
  $("portal-form-title").textContent = p ? "Edit " + p.name : "New portal";
  if (p) {
    for (const k of ["name", "subdomain", "message", "access_level", "custom_expiry_days", "max_file_count"]) f[k].value = p[k] ?? "";
    for (const k of ["active", "expiry_enabled", "user_authentication_required", "download_user_authentication_required", "disable_upload_receipt",
      "file_type_restriction_enabled", "package_size_restriction_enabled", "package_name_format_enabled", "terms_of_service_enabled"]) f[k].checked = !!p[k];
    f.expiry.value = p.expiry ? localDay(new Date(p.expiry)) : "";
    loaded.expiry = f.expiry.value;
    loaded.expiryOn = !!p.expiry_enabled;
    f.access_code.placeholder = p.has_access_code ? "unchanged (set)" : "none";
    f.download_password.placeholder = p.has_download_password ? "unchanged (set)" : "none";
    f.recipients.value = (p.recipients || []).join(", ");
    f.cc_recipients.value = (p.cc_recipients || []).join(", ");
    f.file_type_restriction_exclude.value = p.file_type_restriction_exclude ? "1" : "";
    f.file_types.value = (p.file_types || []).join(", ");
    f.max_file_size.value = p.max_file_size ? p.max_file_size / GB : 0;
    f.max_package_size.value = p.max_package_size ? p.max_package_size / GB : 0;
    f.name_format_value.value = (p.package_name_format || {}).value || "";
    f.name_format_label.value = (p.package_name_format || {}).label || "";
    const terms = p.terms_of_service || {};
    f.terms_title.value = terms.title || "";
    f.terms_description.value = terms.description || "";
    f.terms_checkbox_label.value = terms.checkbox_label || "";
    f.terms_checkbox_url.value = terms.checkbox_url || "";
    if (p.primary_color) f.primary_color.value = hexColour(p.primary_color);
  }
  f.subdomain.readOnly = false;
  f.form_enabled.checked = !!def;
  f.form_name.value = def ? def.name : "";
  for (const c of f.querySelectorAll("input[name=delivery_formats]")) c.checked = def ? def.delivery_formats.includes(c.value) : c.value === "json";
  fbFields = def ? def.fields.map((x) => Object.assign({ named: true }, x)) : [];
  drawBuilder();
  $("form-builder").disabled = !!formError;
  $("portal-status").textContent = formError ? "The portal's form could not be read (" + formError + "): saving leaves it as it is." : "";
  f.hidden = false;
  await portalChoices($("send-team").value, p);
  f.name.focus();
}

async function editPortal(id) {
  const p = await api("GET", "/v1.1/portals/" + id);
  let def = null, formError = "";
  if (p.form_id) {
    try { def = await api("GET", "/v1/portals/" + id + "/form"); } catch (e) { formError = e.message; }
  }
  await fillPortal(p, def, formError);
}

$("portal-new").addEventListener("click", () => fillPortal(null, null));
// The colour is sent only once picked: the input always holds one, so an
// unbranded portal would otherwise get its default.
$("portal-form").primary_color.addEventListener("input", () => { loaded.colour = true; });
$("portal-close").addEventListener("click", () => { $("portal-form").hidden = true; editing = null; });

// portalBody is the API body for the editor's settings.
function portalBody(f) {
  const fd = new FormData(f);
  const on = (k) => fd.get(k) === "on";
  const body = {
    name: fd.get("name"), subdomain: fd.get("subdomain"), message: fd.get("message") || "", active: on("active"),
    expiry_enabled: on("expiry_enabled"), access_level: fd.get("access_level"),
    user_authentication_required: on("user_authentication_required"),
    download_user_authentication_required: on("download_user_authentication_required"),
    recipients: list(fd.get("recipients")), cc_recipients: list(fd.get("cc_recipients")),
    disable_upload_receipt: on("disable_upload_receipt"), custom_expiry_days: Number(fd.get("custom_expiry_days") || 0),
    file_type_restriction_enabled: on("file_type_restriction_enabled"), file_type_restriction_exclude: fd.get("file_type_restriction_exclude") === "1",
    file_types: list(fd.get("file_types")).map((x) => x.replace(/^\./, "")),
    package_size_restriction_enabled: on("package_size_restriction_enabled"), max_file_count: Number(fd.get("max_file_count") || 0),
    max_file_size: Math.round(Number(fd.get("max_file_size") || 0) * GB), max_package_size: Math.round(Number(fd.get("max_package_size") || 0) * GB),
    package_name_format_enabled: on("package_name_format_enabled"),
    package_name_format: { value: fd.get("name_format_value") || "", label: fd.get("name_format_label") || "" },
    terms_of_service_enabled: on("terms_of_service_enabled"),
    terms_of_service: { title: fd.get("terms_title") || "", description: fd.get("terms_description") || "",
      checkbox_label: fd.get("terms_checkbox_label") || "", checkbox_url: fd.get("terms_checkbox_url") || "" },
  };
  if (loaded.spaces) body.teamspace_id = fd.get("teamspace_id") || "";
  if (loaded.hooks) body.custom_webhooks = fd.getAll("custom_webhooks");
  if (loaded.colour) body.primary_color = fd.get("primary_color");
  // The date is sent when set anew (a new date, or the closing turned on):
  // sending back what was shown would only round it.
  const day = fd.get("expiry");
  if (body.expiry_enabled && day && (day !== loaded.expiry || !loaded.expiryOn)) body.expiry = new Date(day + "T23:59:59").toISOString();
  if (fd.get("access_code")) body.access_code = fd.get("access_code");
  else if (on("clear_access_code")) body.has_access_code = false;
  if (fd.get("download_password")) body.download_password = fd.get("download_password");
  else if (on("clear_download_password")) body.has_download_password = false;
  return body;
}

async function putImage(id, kind, file) {
  const res = await fetch("/v1/portals/" + id + "/" + kind, { method: "PUT", body: file, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
  if (!res.ok) {
    let msg = res.statusText;
    try { msg = JSON.parse(await res.text()).errors[0].msg; } catch { /* not JSON */ }
    throw new Error("the portal was saved, but not its " + kind + ": " + msg);
  }
}

// defaultOf is a form field's default value as its type takes it (see
// core/form): a single checkbox a boolean, a checkbox with options the
// list of those checked, a number a whole number, the rest text. A
// default the type cannot take throws, naming the field.
function defaultOf(x, i) {
  const v = x.default_value;
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") return v; // as read from the server
  const bad = (what) => new Error("The default value of field " + (i + 1) + " (" + (x.label || x.name) + ") must be " + what + ".");
  if (x.type === "checkbox" && !(x.options || []).length) {
    const b = v.trim().toLowerCase();
    if (["true", "yes", "on", "1", "checked"].includes(b)) return true;
    if (["false", "no", "off", "0", "unchecked"].includes(b)) return false;
    throw bad("yes or no");
  }
  if (x.type === "checkbox") return list(v);
  if (x.type === "number") {
    const n = Number(v.trim());
    if (v.trim() === "" || !Number.isInteger(n)) throw bad("a whole number");
    return n;
  }
  return v;
}

$("portal-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    // The form is checked first: a default it cannot take stops the save.
    let def = null;
    if (loaded.form && f.form_enabled.checked) {
      def = { name: f.form_name.value || f.name.value + " form", delivery_formats: [...f.querySelectorAll("input[name=delivery_formats]:checked")].map((c) => c.value),
        fields: fbFields.map((x, i) => ({ name: x.name, label: x.label, type: x.type, visibility: x.visibility,
          options: CHOICES.has(x.type) ? x.options || [] : undefined, position: i, default_value: defaultOf(x, i) })) };
    }
    const body = portalBody(f);
    const p = editing
      ? await api("PUT", "/v1/portals/" + editing.id, body)
      : await api("POST", "/v1/teams/" + encodeURIComponent($("send-team").value) + "/portals", body);
    const wasNew = !editing;
    editing = p;
    if (f.logo.files[0]) await putImage(p.id, "logo", f.logo.files[0]);
    if (f.background.files[0]) await putImage(p.id, "background", f.background.files[0]);
    // A form that could not be read is left as it is.
    if (def) {
      await api(p.form_id ? "PUT" : "POST", "/v1/portals/" + p.id + "/form", def);
    } else if (loaded.form && p.form_id) {
      await api("DELETE", "/v1/portals/" + p.id + "/form");
    }
    $("portal-form-title").textContent = "Edit " + p.name;
    $("portal-status").textContent = (wasNew ? "Portal created" : "Portal saved") + (p.url ? ": " + p.url : "") + ".";
    await portals();
    editing = await api("GET", "/v1.1/portals/" + p.id);
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
