// A portal's upload page: reads the portal's public face, shows its form
// fields, then sends the files with haul's (MASV's) upload flow: answer
// the form, create the package, and for each file add it, start the
// multipart upload, PUT its parts and finalize it; finally finalize the
// package.
import { errorText, uploadAll } from "./uploader.js";

const root = document.getElementById("portal");
const formEl = document.getElementById("upload-form");
if (root && formEl) start(root, formEl);

function start(root, formEl) {
  const status = document.getElementById("status");
  const progress = document.getElementById("progress");
  const portalID = root.dataset.portal;
  let portal = null;

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

  formEl.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.textContent = "";
    const fd = new FormData(formEl);
    const files = Array.from(formEl.querySelector("input[type=file]").files);
    progress.hidden = false;
    try {
      const body = { name: fd.get("name"), sender: fd.get("sender"), description: fd.get("description") || "",
        access_code: fd.get("access_code") || "", terms_accepted: fd.get("terms_accepted") === "on" };
      if (portal && portal.form) {
        const resp = await api("POST", "/v1/portals/" + portalID + "/form/responses", { values: formValues() });
        body.form_data_id = resp.id;
      }
      const pkg = await api("POST", "/v1/portals/" + portalID + "/packages", body);
      status.textContent = "Sending…";
      await uploadAll(pkg.id, pkg.access_token, files, (done, all) => { progress.value = all ? done / all : 1; });
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
}
