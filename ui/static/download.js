// The link page: opens the link (with its password if it has one), then
// downloads a file or the whole package as a zip through signed URLs.
(function () {
  "use strict";
  // errorText takes the message of haul's (MASV's) error body.
  function errorText(body, status) {
    const e = body && body.errors && body.errors[0];
    return (e && e.msg) || ("error " + status);
  }
  const root = document.getElementById("download");
  if (!root) return;
  const linkID = root.dataset.link;
  const secret = new URLSearchParams(location.search).get("secret") || "";
  const status = document.getElementById("status");
  let token = "";

  async function open() {
    if (token) return token;
    const pw = document.getElementById("password");
    const headers = pw ? { "X-Link-Password": pw.value } : {};
    const r = await fetch("/v1/links/" + encodeURIComponent(linkID) + "?secret=" + encodeURIComponent(secret), { headers });
    const body = await r.json();
    if (!r.ok) throw new Error(errorText(body, r.status));
    token = body.package_token;
    return token;
  }

  async function fetchURL(pkg, fileID) {
    const t = await open();
    const r = await fetch("/v1/packages/" + pkg + "/files/" + encodeURIComponent(fileID) + "/download", { headers: { "X-Package-Token": t } });
    const body = await r.json();
    if (!r.ok) throw new Error(errorText(body, r.status));
    return body.url;
  }

  async function listFiles(pkg) {
    const t = await open();
    const r = await fetch("/v1/packages/" + pkg + "/files", { headers: { "X-Package-Token": t } });
    const body = await r.json();
    if (!r.ok) throw new Error(errorText(body, r.status));
    return body;
  }

  function row(pkg, f) {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    name.textContent = f.path ? f.path + "/" + f.name : f.name;
    const size = document.createElement("td");
    size.textContent = f.size + " bytes";
    const digest = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = f.digest || "";
    digest.appendChild(code);
    const act = document.createElement("td");
    const b = document.createElement("button");
    b.textContent = f.kind === "file" ? "Download" : "Download all (zip)";
    b.dataset.file = f.id;
    b.dataset.bound = "1";
    b.addEventListener("click", () => go(pkg, f.id));
    act.appendChild(b);
    tr.append(name, size, digest, act);
    return tr;
  }

  // reportWhenDone tells haul, once it has served every file (or the zip)
  // whole, that this download is complete; the sender's history shows it.
  let reporting = false;
  async function reportWhenDone(pkg) {
    if (reporting) return;
    reporting = true;
    for (let i = 0; i < 720; i++) {
      await new Promise((r) => setTimeout(r, i < 5 ? 1000 : 5000));
      const r = await fetch("/v1/packages/" + pkg + "/download_complete", { method: "POST", headers: { "X-Package-Token": token } });
      if (r.status === 204) {
        status.textContent = "Download complete. Thank you.";
        return;
      }
      if (r.status !== 409) return;
    }
  }

  async function go(pkg, fileID) {
    status.textContent = "";
    try {
      // The signed URL's path and query, on this page's host (the page may
      // be on server.download_host; signatures do not cover the host).
      const u = new URL(await fetchURL(pkg, fileID), location.href);
      location.href = u.pathname + u.search;
      reportWhenDone(pkg);
    } catch (e) {
      status.textContent = e.message;
    }
  }

  root.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-file]");
    if (b && !b.dataset.bound) go(root.dataset.package, b.dataset.file);
  });
  const unlock = document.getElementById("unlock");
  if (unlock) {
    unlock.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      status.textContent = "";
      try {
        const files = await listFiles(root.dataset.package);
        const tbody = document.getElementById("files");
        tbody.textContent = "";
        for (const f of files) tbody.appendChild(row(root.dataset.package, f));
        unlock.hidden = true;
      } catch (e) {
        token = "";
        status.textContent = e.message;
      }
    });
  }
})();
