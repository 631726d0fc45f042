// The minimal UI of the foundation: sign in with a session cookie, accept
// an invitation, list one's teams. It uses the public API like any client.
import { uploadAll } from "./uploader.js";

const $ = (id) => document.getElementById(id);
let csrf = sessionStorage.getItem("haul.csrf") || "";

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
  for (const s of ["login", "invite", "password", "home"]) $(s).hidden = s !== id;
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
if (m) invitation(m[1]); else home();

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

$("send-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const files = [...ev.target.files.files, ...ev.target.folder.files];
  const status = $("send-status"), progress = $("send-progress");
  if (files.length === 0) {
    status.textContent = "Pick files or a folder first.";
    return;
  }
  const recipients = (f.get("recipients") || "").split(",").map((r) => r.trim()).filter((r) => r);
  sending = true;
  progress.hidden = false;
  progress.value = 0;
  try {
    const body = { name: f.get("name"), recipients };
    if (f.get("password")) body.password = f.get("password");
    const pkg = await api("POST", "/v1/teams/" + encodeURIComponent(f.get("team")) + "/packages", body);
    status.textContent = "Sending…";
    const started = Date.now();
    await uploadAll(pkg.id, pkg.access_token, files, (done, total) => {
      progress.value = total ? done / total : 1;
      const secs = (Date.now() - started) / 1000;
      if (secs > 0 && total) status.textContent = "Sending… " + Math.round(done / secs / 1e6) + " MB/s";
    });
    status.textContent = "Sent: " + files.length + " file(s)" + (recipients.length ? " to " + recipients.join(", ") : "") + ".";
    ev.target.reset();
  } catch (e) {
    status.textContent = e.message;
  } finally {
    sending = false;
  }
});
