// A portal's upload page: reads the portal's public face, shows its form
// fields, then sends the files with haul's (MASV's) upload flow: answer
// the form, create the package, and for each file add it, start the
// multipart upload, PUT its parts and finalize it; finally finalize the
// package.
import { Cancelled, Control, droppedFiles, errorText, uploadAll } from "./uploader.js";
import { Panel, bytes } from "./progress.js";
import { fieldInput } from "./formfields.js";

const root = document.getElementById("portal");
const formEl = document.getElementById("upload-form");
if (root && formEl) start(root, formEl);

function start(root, formEl) {
  const status = document.getElementById("status");
  const panelEl = document.getElementById("panel");
  let dropped = [];
  let sending = false;
  const again = document.getElementById("again");
  again.querySelector("button").addEventListener("click", () => {
    formEl.hidden = false;
    again.hidden = true;
    panelEl.hidden = true;
    status.textContent = "";
  });
  const zone = document.getElementById("drop-zone");
  zone.addEventListener("dragover", (ev) => ev.preventDefault());
  zone.addEventListener("drop", async (ev) => {
    ev.preventDefault();
    dropped = dropped.concat(await droppedFiles(ev.dataTransfer));
    document.getElementById("dropped").textContent = dropped.length + " file(s) ready.";
  });
  window.addEventListener("beforeunload", (ev) => {
    if (sending) {
      ev.preventDefault();
      ev.returnValue = "";
    }
  });
  const portalID = root.dataset.portal;
  let portal = null;
  // BUILT_IN are the form's field types the page always asks for (Your
  // email, Package name, Description): they are not asked twice, and a
  // sender's answers to those inputs answer the form's fields too.
  const BUILT_IN = { sender_email: "sender", package_name: "name", package_description: "description" };

  async function api(method, path, body, headers) {
    const h = Object.assign({ "Accept": "application/json" }, headers || {});
    if (body !== undefined) h["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    const data = text ? JSON.parse(text) : {};
    if (!r.ok) throw new Error(errorText(data, r.status));
    return data;
  }

  function formValues(fd) {
    const values = {};
    for (const f of portal.form.fields) {
      const v = (fd.get(BUILT_IN[f.type]) || "").trim();
      // Read-only and hidden fields are the server's to fill.
      if (BUILT_IN[f.type] && v && (f.visibility === "required" || f.visibility === "optional" || !f.visibility)) values[f.name] = v;
    }
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

  formEl.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.textContent = "";
    const fd = new FormData(formEl);
    const files = [...formEl.files.files, ...formEl.folder.files, ...dropped];
    if (files.length === 0) {
      status.textContent = "Pick files or a folder first (or drop them on the page).";
      return;
    }
    const control = new Control();
    try {
      const body = { name: fd.get("name"), sender: fd.get("sender"), description: fd.get("description") || "",
        access_code: fd.get("access_code") || "", terms_accepted: fd.get("terms_accepted") === "on" };
      if (portal && portal.form) {
        const resp = await api("POST", "/v1/portals/" + portalID + "/form/responses", { values: formValues(fd) });
        body.form_data_id = resp.id;
      }
      const pkg = await api("POST", "/v1/portals/" + portalID + "/packages", body);
      status.textContent = "Sending…";
      sending = true;
      const panel = new Panel(panelEl, files, control);
      try {
        await uploadAll(pkg.id, pkg.access_token, files, { onBytes: (i, n) => panel.add(i, n), control });
        panel.stop("All " + bytes(panel.total) + " sent.");
      } catch (e) {
        panel.stop(e instanceof Cancelled ? "Cancelled." : undefined);
        throw e;
      }
      // The success screen: the form goes away until "Send more files".
      status.textContent = "Sent: " + files.length + " file(s), " + bytes(panel.total) + ". Thank you: " +
        (portal && portal.name ? portal.name : "the studio") + " has been told.";
      formEl.reset();
      formEl.hidden = true;
      dropped = [];
      document.getElementById("dropped").textContent = "";
      again.hidden = false;
    } catch (e) {
      status.textContent = e instanceof Cancelled ? "Cancelled: nothing was delivered." : e.message;
    } finally {
      sending = false;
    }
  });

  api("GET", "/v1/subdomains/portals/" + encodeURIComponent(root.dataset.subdomain)).then((p) => {
    portal = p;
    const box = document.getElementById("form-fields");
    if (!p.form) return;
    for (const f of p.form.fields) {
      const own = BUILT_IN[f.type];
      if (own) {
        if (f.visibility === "required") formEl.elements[own].required = true;
      } else if (f.visibility !== "hidden") {
        box.appendChild(fieldInput(f));
      }
    }
  }).catch((e) => { status.textContent = e.message; });
}
