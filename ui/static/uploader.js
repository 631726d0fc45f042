// The browser's upload flow (MASV's blueprints, as any client uses them):
// for each file, add it to the package, start its multipart upload, PUT
// its parts to the signed URLs (a few at a time, each retried with
// backoff on network errors and 5xx answers), and finalize it.

const CHUNK = 64 * 1024 * 1024;
const PARALLEL = 3;

// errorText takes the message of haul's (MASV's) error body.
export function errorText(body, status) {
  const e = body && body.errors && body.errors[0];
  return (e && e.msg) || ("error " + status);
}

// local keeps a signed URL's path and query: the page may be served on
// another of haul's host names, and signatures do not cover the host.
export function local(u) {
  const x = new URL(u, location.href);
  return x.pathname + x.search;
}

async function call(method, path, body, token) {
  const h = { "Accept": "application/json", "X-Package-Token": token };
  if (body !== undefined) h["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  const data = text ? JSON.parse(text) : {};
  if (!r.ok) throw new Error(errorText(data, r.status));
  return data;
}

async function putPart(url, blob) {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(local(url), { method: "PUT", body: blob });
      if (r.ok) return r.headers.get("ETag");
      if (r.status < 500 || attempt >= 5) throw new Error("a part was refused (" + r.status + ")");
    } catch (e) {
      if (attempt >= 5) throw e;
    }
    await new Promise((res) => setTimeout(res, 500 * 2 ** attempt));
  }
}

// listParts returns the part numbers and ETags the server holds for an
// upload (S3 ListParts on its signed blueprint).
async function listParts(pkg, token, fileID, uploadID) {
  const bps = await call("GET", "/v1/packages/" + pkg + "/files/" + fileID + "/uploads/" + uploadID, undefined, token);
  const r = await fetch(local(bps.list_parts.url));
  if (!r.ok) throw new Error("could not list the parts already sent (" + r.status + ")");
  const doc = new DOMParser().parseFromString(await r.text(), "application/xml");
  const held = new Map();
  for (const p of doc.getElementsByTagName("Part")) {
    const n = Number(p.getElementsByTagName("PartNumber")[0].textContent);
    const etag = p.getElementsByTagName("ETag")[0].textContent;
    const size = Number(p.getElementsByTagName("Size")[0].textContent);
    held.set(n, { etag, size });
  }
  return held;
}

// relDir is the folder a file was picked or dropped from ("" for none):
// a folder picker sets webkitRelativePath, a drop sets haulDir.
function relDir(f) {
  if (f.haulDir !== undefined) return f.haulDir;
  const rel = f.webkitRelativePath || "";
  return rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
}

// fileKey identifies a picked file across page loads.
function fileKey(f) {
  const dir = relDir(f);
  return (dir ? dir + "/" : "") + f.name + "|" + f.size + "|" + f.lastModified;
}

// droppedFiles turns a drop (files and folders) into files, each with its
// folder in haulDir, so the package keeps the dropped structure.
export async function droppedFiles(dataTransfer) {
  const out = [];
  async function walk(entry, dir) {
    if (entry.isFile) {
      const f = await new Promise((res, rej) => entry.file(res, rej));
      f.haulDir = dir;
      out.push(f);
      return;
    }
    const reader = entry.createReader();
    const sub = dir ? dir + "/" + entry.name : entry.name;
    for (;;) {
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (batch.length === 0) break;
      for (const e of batch) await walk(e, sub);
    }
  }
  const entries = [...dataTransfer.items].map((it) => it.webkitGetAsEntry && it.webkitGetAsEntry()).filter((e) => e);
  if (entries.length === 0) {
    for (const f of dataTransfer.files) {
      f.haulDir = "";
      out.push(f);
    }
    return out;
  }
  for (const e of entries) await walk(e, "");
  return out;
}

// sendFile uploads one file into the package; onBytes is told the bytes
// each finished part carried. With a saved entry (a send interrupted by a
// reload or a crash) it sends only the parts the server does not hold.
async function sendFile(pkg, token, file, path, onBytes, saved, save) {
  const parts = Math.max(1, Math.ceil(file.size / CHUNK));
  const partSize = (i) => Math.min(file.size, (i + 1) * CHUNK) - i * CHUNK;
  let fileID = saved && saved.fileID, uploadID = saved && saved.uploadID;
  const etags = new Array(parts);
  if (fileID && uploadID) {
    for (const [n, p] of await listParts(pkg, token, fileID, uploadID)) {
      if (n >= 1 && n <= parts && p.size === partSize(n - 1)) {
        etags[n - 1] = p.etag;
        onBytes(p.size);
      }
    }
  } else {
    const added = await call("POST", "/v1/packages/" + pkg + "/files",
      { kind: "file", name: file.name, path: path || "", size: file.size, chunk_size: CHUNK, last_modified: new Date(file.lastModified).toISOString() }, token);
    const create = await fetch(local(added.create_blueprint.url), { method: "POST" });
    const xml = await create.text();
    if (!create.ok) throw new Error("could not start the upload of " + file.name);
    fileID = added.file.id;
    uploadID = (xml.match(/<UploadId>([^<]+)<\/UploadId>/) || [])[1];
    save({ fileID, uploadID });
  }
  const urls = await call("POST", "/v1/packages/" + pkg + "/files/" + fileID + "?start=0&count=" + parts, { upload_id: uploadID }, token);
  const todo = [];
  for (let i = 0; i < parts; i++) if (!etags[i]) todo.push(i);
  async function worker() {
    while (todo.length) {
      const i = todo.shift();
      const blob = file.slice(i * CHUNK, i * CHUNK + partSize(i));
      etags[i] = await putPart(urls[i].url, blob);
      onBytes(blob.size);
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, worker));
  await call("POST", "/v1/packages/" + pkg + "/files/" + fileID + "/finalize",
    { chunk_extras: etags.map((etag, i) => ({ partNumber: String(i + 1), etag })), file_extras: { upload_id: uploadID }, size: file.size }, token);
  save({ fileID, uploadID, done: true });
}

// Sends in progress are kept in localStorage under a key, so that after a
// reload (or a crash) picking the same files again finishes the send.
export function savedSend(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

// uploadAll sends every file (with its folder: a file picked from a folder
// keeps its relative path) and finalizes the package. onProgress(done,
// total) is told the bytes sent. With storeKey, progress is saved there
// until the package is finalized, and a saved send of this package is
// resumed: finished files are skipped, started ones send only their
// missing parts.
export async function uploadAll(pkg, token, files, onProgress, storeKey, name) {
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  let state = storeKey ? savedSend(storeKey) : null;
  if (!state || state.pkg !== pkg) state = { pkg, token, name: name || "", files: {} };
  const persist = () => { if (storeKey) localStorage.setItem(storeKey, JSON.stringify(state)); };
  persist();
  for (const f of files) {
    const key = fileKey(f);
    const saved = state.files[key];
    if (saved && saved.done) {
      done += f.size;
      onProgress(done, total);
      continue;
    }
    await sendFile(pkg, token, f, relDir(f), (n) => { done += n; onProgress(done, total); }, saved,
      (entry) => { state.files[key] = entry; persist(); });
  }
  await call("POST", "/v1/packages/" + pkg + "/finalize", {}, token);
  if (storeKey) localStorage.removeItem(storeKey);
}
