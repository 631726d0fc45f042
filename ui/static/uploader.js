// The browser's upload flow (MASV's blueprints, as any client uses them):
// for each file, add it to the package, start its multipart upload, PUT
// its parts to the signed URLs (a few at a time, each retried with
// backoff on network errors and the answers of a restarting server), and
// finalize it.

const MiB = 1024 * 1024;
const CHUNK = 64 * MiB;
const PARALLEL = 3;
// MAX_PARTS is the server's max_chunk_count (GET /v1/system/packages/spec):
// a larger file takes larger parts.
const MAX_PARTS = 10000;
// STALL is how long a part may send nothing before it is sent again.
const STALL = 60000;

// chunkFor is the part size of a file: 64 MiB, or a whole number of MiB
// that keeps it within MAX_PARTS parts.
const chunkFor = (size) => Math.max(CHUNK, Math.ceil(size / MAX_PARTS / MiB) * MiB);

// TRANSIENT are the answers of a restarting server or proxy: retried. Any
// other error answer (a 507, a 500) is the server's word and is shown.
const TRANSIENT = [502, 503, 504];

// errorText takes the message of haul's (MASV's) error body.
export function errorText(body, status) {
  const e = body && body.errors && body.errors[0];
  return (e && e.msg) || ("error " + status);
}

// answerText is the message of an error answer on the data plane: S3's
// <Message>, haul's JSON error, or what with the status.
function answerText(status, body, what) {
  const m = /<Message>([^<]*)<\/Message>/.exec(body || "");
  if (m) return m[1];
  try { return errorText(JSON.parse(body), status); } catch { return what + " (" + status + ")"; }
}

// httpError is an error answer's message, with its status for the
// callers that act on one (409: already finalized).
function httpError(msg, status) {
  const e = new Error(msg);
  e.status = status;
  return e;
}

// local keeps a signed URL's path and query: the page may be served on
// another of haul's host names, and signatures do not cover the host.
export function local(u) {
  const x = new URL(u, location.href);
  return x.pathname + x.search;
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// Cancelled is thrown out of a send its Control cancelled.
export class Cancelled extends Error {
  constructor() { super("Cancelled."); }
}

// Control pauses, resumes and cancels a send. Pausing aborts the parts in
// flight (they are sent again on resume; a part is idempotent); the
// uploader also pauses by itself, with a reason, when the server stays
// unreachable through its retries. onChange(paused, reason) is told. A
// send that failed (failed: its error) stops its other parts too.
export class Control {
  constructor() {
    this.paused = false;
    this.cancelled = false;
    this.failed = null;
    this.reason = "";
    this.live = new Set();
    this.waiters = [];
    this.onChange = () => {};
  }
  pause(reason) {
    if (this.cancelled) return;
    this.paused = true;
    this.reason = reason || "";
    for (const x of this.live) x.abort();
    this.onChange(true, this.reason);
  }
  resume() {
    this.paused = false;
    this.reason = "";
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    this.onChange(false, "");
  }
  cancel() {
    this.cancelled = true;
    for (const x of this.live) x.abort();
    this.resume();
  }
  // fail stops a send one of whose steps failed: the parts in flight are
  // aborted and every gate throws err, so nothing more is sent.
  fail(err) {
    if (this.failed || this.cancelled) return;
    this.failed = err;
    for (const x of this.live) x.abort();
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  // gate waits while paused, and throws once cancelled or failed.
  async gate() {
    while (this.paused && !this.cancelled && !this.failed) await new Promise((res) => this.waiters.push(res));
    if (this.cancelled) throw new Cancelled();
    if (this.failed) throw this.failed;
  }
}

// call is a JSON API call with the package token. Network errors and the
// answers of a restarting server (502, 503, 504) are retried with backoff;
// after a minute of them the send pauses with a reason. beforeRetry, when
// given, runs before each try that follows a failed one: a call that is
// not idempotent undoes there what a try the server committed did.
async function call(method, path, body, token, control, beforeRetry) {
  const h = { "Accept": "application/json", "X-Package-Token": token };
  if (body !== undefined) h["Content-Type"] = "application/json";
  let retrying = false;
  for (let attempt = 0; ; attempt++) {
    if (control) await control.gate();
    if (retrying && beforeRetry) await beforeRetry();
    let r;
    try {
      r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      r = null;
    }
    if (r && !TRANSIENT.includes(r.status)) {
      const text = await r.text();
      let data = {};
      try { data = text ? JSON.parse(text) : {}; } catch { /* not JSON */ }
      if (!r.ok) throw httpError(errorText(data, r.status), r.status);
      return data;
    }
    retrying = true;
    if (!control) throw new Error("the server cannot be reached");
    if (attempt >= RETRIES) {
      control.pause(UNREACHABLE);
      attempt = -1;
      continue;
    }
    await sleep(backoff(attempt));
  }
}

// Retries: about a minute of backoff (0.5 s doubling, capped at 10 s)
// before the send pauses and says so.
const RETRIES = 9;
const UNREACHABLE = "The server cannot be reached. Check the connection, then press Resume: nothing sent is lost.";
const backoff = (attempt) => Math.min(10000, 500 * 2 ** attempt);

// putOnce PUTs a part once with XMLHttpRequest (fetch reports no upload
// progress), telling onSent the bytes as they leave. status is 0 on a
// network error or a stall (STALL without progress: a dead connection
// that never errors) and -1 when aborted (paused, cancelled or failed).
function putOnce(url, blob, control, onSent) {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest();
    let sent = 0, stalled = false, timer = 0;
    const watch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => { stalled = true; x.abort(); }, STALL);
    };
    const end = (status) => {
      clearTimeout(timer);
      control.live.delete(x);
      resolve({ status, sent, etag: status > 0 ? x.getResponseHeader("ETag") : "", body: status > 0 ? x.responseText : "" });
    };
    x.open("PUT", local(url));
    x.upload.onprogress = (e) => { watch(); onSent(e.loaded - sent); sent = e.loaded; };
    x.onload = () => end(x.status);
    x.onerror = () => end(0);
    x.onabort = () => end(stalled ? 0 : -1);
    control.live.add(x);
    watch();
    x.send(blob);
  });
}

// putPart sends one part until the server holds it: network errors,
// stalls and the answers of a restarting server are retried with backoff
// (then the send pauses), a pause aborts it and a resume sends it again;
// the bytes of a failed try are taken back from the progress. Any other
// error answer fails the send with the server's message.
async function putPart(url, blob, control, onSent) {
  for (let attempt = 0; ; ) {
    await control.gate();
    const r = await putOnce(url, blob, control, onSent);
    if (r.status >= 200 && r.status < 300) {
      onSent(blob.size - r.sent);
      return r.etag;
    }
    if (r.status === -1) { // paused, cancelled or failed: the gate decides
      if (!control.failed && !control.cancelled) onSent(-r.sent);
      continue;
    }
    onSent(-r.sent);
    if (r.status !== 0 && !TRANSIENT.includes(r.status)) {
      throw httpError(answerText(r.status, r.body, "a part was refused"), r.status);
    }
    if (attempt >= RETRIES) {
      control.pause(UNREACHABLE);
      attempt = 0;
      continue;
    }
    await sleep(backoff(attempt++));
  }
}

// raw is a call to a signed S3-style URL (no token), retried like call.
async function raw(method, url, control) {
  for (let attempt = 0; ; attempt++) {
    await control.gate();
    let r = null;
    try {
      r = await fetch(local(url), { method });
    } catch { /* network error: retried */ }
    if (r && !TRANSIENT.includes(r.status)) return { ok: r.ok, status: r.status, text: await r.text() };
    if (attempt >= RETRIES) {
      control.pause(UNREACHABLE);
      attempt = -1;
      continue;
    }
    await sleep(backoff(attempt));
  }
}

// listParts returns the part numbers and ETags the server holds for an
// upload (S3 ListParts on its signed blueprint).
async function listParts(pkg, token, fileID, uploadID, control) {
  const bps = await call("GET", "/v1/packages/" + pkg + "/files/" + fileID + "/uploads/" + uploadID, undefined, token, control);
  const r = await raw("GET", bps.list_parts.url, control);
  if (!r.ok) throw httpError(answerText(r.status, r.text, "could not list the parts already sent"), r.status);
  const doc = new DOMParser().parseFromString(r.text, "application/xml");
  const held = new Map();
  for (const p of doc.getElementsByTagName("Part")) {
    const n = Number(p.getElementsByTagName("PartNumber")[0].textContent);
    const etag = p.getElementsByTagName("ETag")[0].textContent;
    const size = Number(p.getElementsByTagName("Size")[0].textContent);
    held.set(n, { etag, size });
  }
  return held;
}

// expiresSoon tells whether a signed URL expires within two minutes (a
// long pause outlives the part URLs; new ones are asked for).
function expiresSoon(u) {
  const exp = Number(new URL(u, location.href).searchParams.get("X-Haul-Expires"));
  return exp > 0 && exp * 1000 < Date.now() + 120000;
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

// dropLeftovers deletes the package's unfinished files (state new) of
// this file's path, name and size that the send does not hold the upload
// of: what an add-file the server committed left behind when its answer
// was lost (a retry, a reload). Left there, such a file would stay new and
// the package could never be finalized; its upload cannot be started
// again without the add's signed URL, so it is added afresh. files is the
// package's file list (listed anew when not given).
async function dropLeftovers(pkg, token, file, path, control, files) {
  if (!files) files = await call("GET", "/v1/packages/" + pkg + "/files", undefined, token, control);
  for (const f of files) {
    if (f.kind === "file" && f.state === "new" && f.name === file.name && (f.path || "") === (path || "") && f.size === file.size) {
      await call("DELETE", "/v1/packages/" + pkg + "/files/" + f.id, undefined, token, control);
      f.state = "deleted";
    }
  }
}

// sendFile uploads one file into the package; onBytes is told the bytes
// as they leave (negative when a failed try is taken back). With a saved
// entry (a send interrupted by a reload or a crash) it sends only the
// parts the server does not hold. listed, for a send interrupted before
// (a file it added may be there without its upload), gives the package's
// files as they were when it resumed.
async function sendFile(pkg, token, file, path, onBytes, saved, save, control, listed) {
  // A resumed file keeps the part size it was started with.
  const chunk = (saved && saved.chunk) || (saved && saved.fileID ? CHUNK : chunkFor(file.size));
  const parts = Math.max(1, Math.ceil(file.size / chunk));
  const partSize = (i) => Math.min(file.size, (i + 1) * chunk) - i * chunk;
  let fileID = saved && saved.fileID, uploadID = saved && saved.uploadID;
  const etags = new Array(parts);
  let held = null;
  if (fileID && uploadID) {
    try {
      held = await listParts(pkg, token, fileID, uploadID, control);
    } catch (e) {
      // 409: the file was finalized before the tab died, unrecorded.
      if (e.status !== 409) throw e;
      save({ fileID, uploadID, chunk, done: true });
      onBytes(file.size);
      return;
    }
  }
  if (held) {
    for (const [n, p] of held) {
      if (n >= 1 && n <= parts && p.size === partSize(n - 1)) {
        etags[n - 1] = p.etag;
        onBytes(p.size);
      }
    }
  } else {
    // An add-file is not idempotent: before a retry (and when resuming) a
    // file an earlier try added is deleted rather than added twice.
    const clean = () => dropLeftovers(pkg, token, file, path, control);
    if (listed) await dropLeftovers(pkg, token, file, path, control, await listed());
    const added = await call("POST", "/v1/packages/" + pkg + "/files",
      { kind: "file", name: file.name, path: path || "", size: file.size, chunk_size: chunk, last_modified: new Date(file.lastModified).toISOString() }, token, control, clean);
    fileID = added.file.id;
    save({ fileID, chunk }); // a reload from here on finds it (and drops it)
    const create = await raw("POST", added.create_blueprint.url, control);
    if (!create.ok) throw httpError(answerText(create.status, create.text, "could not start the upload of " + file.name), create.status);
    uploadID = (create.text.match(/<UploadId>([^<]+)<\/UploadId>/) || [])[1];
    save({ fileID, uploadID, chunk });
  }
  let urls = null;
  const partURL = async (i) => {
    if (!urls || expiresSoon(urls[i].url)) {
      urls = await call("POST", "/v1/packages/" + pkg + "/files/" + fileID + "?start=0&count=" + parts, { upload_id: uploadID }, token, control);
    }
    return urls[i].url;
  };
  const todo = [];
  for (let i = 0; i < parts; i++) if (!etags[i]) todo.push(i);
  async function worker() {
    while (todo.length) {
      const i = todo.shift();
      const blob = file.slice(i * chunk, i * chunk + partSize(i));
      etags[i] = await putPart(await partURL(i), blob, control, onBytes);
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, worker));
  await call("POST", "/v1/packages/" + pkg + "/files/" + fileID + "/finalize",
    { chunk_extras: etags.map((etag, i) => ({ partNumber: String(i + 1), etag })), file_extras: { upload_id: uploadID }, size: file.size }, token, control);
  save({ fileID, uploadID, chunk, done: true });
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
// keeps its relative path) and finalizes the package. opts:
//   onBytes(i, n)  told the bytes of files[i] as they leave (negative
//                  when a failed try is taken back);
//   control        a Control (pause, resume, cancel);
//   storeKey, name with storeKey, progress is saved there until the
//                  package is finalized, and a saved send of this package
//                  is resumed: finished files are skipped, started ones
//                  send only their missing parts.
export async function uploadAll(pkg, token, files, opts) {
  const { onBytes = () => {}, storeKey = "", name = "" } = opts || {};
  const control = (opts && opts.control) || new Control();
  let state = storeKey ? savedSend(storeKey) : null;
  const resumed = !!state && state.pkg === pkg;
  if (!resumed) state = { pkg, token, name, files: {} };
  const persist = () => { if (storeKey) localStorage.setItem(storeKey, JSON.stringify(state)); };
  persist();
  // A resumed send lists the package's files once, for the leftovers.
  let listing = null;
  const listed = resumed ? () => (listing ||= call("GET", "/v1/packages/" + pkg + "/files", undefined, token, control)) : null;
  try {
    for (const [i, f] of files.entries()) {
      const key = fileKey(f);
      const saved = state.files[key];
      if (saved && saved.done) {
        onBytes(i, f.size);
        continue;
      }
      await sendFile(pkg, token, f, relDir(f), (n) => onBytes(i, n), saved,
        (entry) => { state.files[key] = entry; persist(); }, control, listed);
    }
    await call("POST", "/v1/packages/" + pkg + "/finalize", {}, token, control);
  } catch (e) {
    // One failed part or step stops the others still sending.
    if (!(e instanceof Cancelled)) control.fail(e);
    throw e;
  }
  if (storeKey) localStorage.removeItem(storeKey);
}
