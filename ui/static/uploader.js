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

// sendFile uploads one file into the package; onBytes is told the bytes
// each finished part carried.
async function sendFile(pkg, token, file, path, onBytes) {
  const added = await call("POST", "/v1/packages/" + pkg + "/files",
    { kind: "file", name: file.name, path: path || "", size: file.size, chunk_size: CHUNK, last_modified: new Date(file.lastModified).toISOString() }, token);
  const create = await fetch(local(added.create_blueprint.url), { method: "POST" });
  const xml = await create.text();
  if (!create.ok) throw new Error("could not start the upload of " + file.name);
  const uploadID = (xml.match(/<UploadId>([^<]+)<\/UploadId>/) || [])[1];
  const parts = Math.max(1, Math.ceil(file.size / CHUNK));
  const urls = await call("POST", "/v1/packages/" + pkg + "/files/" + added.file.id + "?start=0&count=" + parts, { upload_id: uploadID }, token);
  const etags = new Array(parts);
  let next = 0;
  async function worker() {
    while (next < parts) {
      const i = next++;
      const blob = file.slice(i * CHUNK, Math.min(file.size, (i + 1) * CHUNK));
      etags[i] = await putPart(urls[i].url, blob);
      onBytes(blob.size);
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, parts) }, worker));
  await call("POST", "/v1/packages/" + pkg + "/files/" + added.file.id + "/finalize",
    { chunk_extras: etags.map((etag, i) => ({ partNumber: String(i + 1), etag })), file_extras: { upload_id: uploadID }, size: file.size }, token);
}

// uploadAll sends every file (with its folder: a file picked from a folder
// keeps its relative path) and finalizes the package. onProgress(done,
// total) is told the bytes sent.
export async function uploadAll(pkg, token, files, onProgress) {
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  for (const f of files) {
    const rel = f.webkitRelativePath || "";
    const dir = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
    await sendFile(pkg, token, f, dir, (n) => { done += n; onProgress(done, total); });
  }
  await call("POST", "/v1/packages/" + pkg + "/finalize", {}, token);
}
