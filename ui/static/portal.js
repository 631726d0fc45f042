// A portal's upload page: reads the portal's public face, shows its form
// fields, then sends the files with haul's (MASV's) upload flow: answer
// the form, create the package, and for each file add it, start the
// multipart upload, PUT its parts and finalize it; finally finalize the
// package.
(function () {
  "use strict";
  // errorText takes the message of haul's (MASV's) error body.
  function errorText(body, status) {
    const e = body && body.errors && body.errors[0];
    return (e && e.msg) || ("error " + status);
  }
  const root = document.getElementById("portal");
  const formEl = document.getElementById("upload-form");
  if (!root || !formEl) return;
  const status = document.getElementById("status");
  const progress = document.getElementById("progress");
  const portalID = root.dataset.portal;
  const CHUNK = 64 * 1024 * 1024;
  let portal = null;

  // Signed URLs name haul's public host; the page may be on a portal's
  // own host (same server). Signatures cover the path and query only, so
  // they are sent to this page's origin (which the CSP allows).
  function local(u) {
    const x = new URL(u, location.href);
    return x.pathname + x.search;
  }

  async function api(method, path, body, headers) {
    const h = Object.assign({ "Accept": "application/json" }, headers || {});
    if (body !== undefined) h["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    const data = text ? JSON.parse(text) : {};
    if (!r.ok) throw new Error(errorText(data, r.status));
    return data;
  }

  function fieldInput(f) {
    const label = document.createElement("label");
    label.textContent = f.label + " ";
    let input;
    if (f.type === "long_text" || f.type === "package_description") {
      input = document.createElement("textarea");
    } else if ((f.type === "radio" || f.type === "dropdown") && f.options) {
      input = document.createElement("select");
      input.appendChild(document.createElement("option"));
      for (const o of f.options) {
        const opt = document.createElement("option");
        opt.value = o; opt.textContent = o;
        input.appendChild(opt);
      }
    } else if (f.type === "checkbox" && f.options && f.options.length) {
      input = document.createElement("select");
      input.multiple = true;
      for (const o of f.options) {
        const opt = document.createElement("option");
        opt.value = o; opt.textContent = o;
        input.appendChild(opt);
      }
    } else {
      input = document.createElement("input");
      input.type = { number: "number", date: "date", email: "email", sender_email: "email", url: "url", checkbox: "checkbox" }[f.type] || "text";
    }
    input.dataset.field = f.name;
    input.dataset.type = f.type;
    if (f.visibility === "required") input.required = true;
    if (f.visibility === "readonly") input.disabled = true;
    if (f.default_value !== undefined && f.default_value !== null && input.type !== "checkbox") input.value = f.default_value;
    label.appendChild(input);
    return label;
  }

  function formValues() {
    const values = {};
    for (const el of document.querySelectorAll("[data-field]")) {
      if (el.disabled) continue;
      let v;
      if (el.multiple) v = Array.from(el.selectedOptions).map((o) => o.value);
      else if (el.type === "checkbox") v = el.checked;
      else if (el.dataset.type === "number" && el.value !== "") v = Number(el.value);
      else v = el.value;
      if (v !== "" && !(Array.isArray(v) && v.length === 0)) values[el.dataset.field] = v;
    }
    return values;
  }

  async function put(url, blob) {
    const r = await fetch(local(url), { method: "PUT", body: blob });
    if (!r.ok) throw new Error("a part was refused (" + r.status + "): " + (await r.text()));
    return r.headers.get("ETag");
  }

  async function sendFile(pkg, tok, file, done, total) {
    const hdr = { "X-Package-Token": tok };
    const added = await api("POST", "/v1/packages/" + pkg + "/files",
      { kind: "file", name: file.name, path: "", size: file.size, chunk_size: CHUNK, last_modified: new Date(file.lastModified).toISOString() }, hdr);
    const create = await fetch(local(added.create_blueprint.url), { method: "POST" });
    const xml = await create.text();
    if (!create.ok) throw new Error("could not start the upload of " + file.name);
    const uploadID = (xml.match(/<UploadId>([^<]+)<\/UploadId>/) || [])[1];
    const parts = Math.max(1, Math.ceil(file.size / CHUNK));
    const urls = await api("POST", "/v1/packages/" + pkg + "/files/" + added.file.id + "?start=0&count=" + parts, { upload_id: uploadID }, hdr);
    const extras = [];
    for (let i = 0; i < parts; i++) {
      const blob = file.slice(i * CHUNK, Math.min(file.size, (i + 1) * CHUNK));
      let etag = null;
      for (let attempt = 0; etag === null; attempt++) {
        try { etag = await put(urls[i].url, blob); } catch (e) { if (attempt >= 4) throw e; await new Promise((r) => setTimeout(r, 1000 * (attempt + 1))); }
      }
      extras.push({ partNumber: String(i + 1), etag });
      done.bytes += blob.size;
      progress.value = total ? done.bytes / total : 1;
    }
    await api("POST", "/v1/packages/" + pkg + "/files/" + added.file.id + "/finalize",
      { chunk_extras: extras, file_extras: { upload_id: uploadID }, size: file.size }, hdr);
  }

  formEl.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.textContent = "";
    const fd = new FormData(formEl);
    const files = Array.from(formEl.querySelector("input[type=file]").files);
    const total = files.reduce((n, f) => n + f.size, 0);
    progress.hidden = false;
    try {
      const body = { name: fd.get("name"), sender: fd.get("sender"), description: fd.get("description") || "",
        access_code: fd.get("access_code") || "", terms_accepted: fd.get("terms_accepted") === "on" };
      if (portal && portal.form) {
        const resp = await api("POST", "/v1/portals/" + portalID + "/form/responses", { values: formValues() });
        body.form_data_id = resp.id;
      }
      const pkg = await api("POST", "/v1/portals/" + portalID + "/packages", body);
      const done = { bytes: 0 };
      for (const f of files) {
        status.textContent = "Sending " + f.name + "…";
        await sendFile(pkg.id, pkg.access_token, f, done, total);
      }
      await api("POST", "/v1/packages/" + pkg.id + "/finalize", {}, { "X-Package-Token": pkg.access_token });
      status.textContent = "Sent: " + files.length + " file(s). Thank you.";
      formEl.reset();
    } catch (e) {
      status.textContent = e.message;
    }
  });

  api("GET", "/v1/subdomains/portals/" + encodeURIComponent(root.dataset.subdomain)).then((p) => {
    portal = p;
    const box = document.getElementById("form-fields");
    if (p.form) for (const f of p.form.fields) if (f.visibility !== "hidden") box.appendChild(fieldInput(f));
  }).catch((e) => { status.textContent = e.message; });
})();
