// The progress panel of a send, shared by the Send form and portal pages:
// total and per-file progress, speed and time left, a live speed graph
// (the last minute, drawn as SVG), and Pause/Resume and Cancel buttons
// wired to the send's Control.

const GRAPH_SECONDS = 60;
const SHOWN_FILES = 200; // rows drawn; a larger send lists the rest as a count

export function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : String(Math.round(n))) + " " + units[i];
}

function duration(secs) {
  if (!isFinite(secs)) return "";
  if (secs < 90) return "about " + Math.max(1, Math.round(secs)) + " s left";
  if (secs < 5400) return "about " + Math.round(secs / 60) + " min left";
  return "about " + (secs / 3600).toFixed(1) + " h left";
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// Panel draws into root (emptied first) the progress of files, driven by
// add(i, n) calls; control is the send's Control. stop() ends the timer.
export class Panel {
  constructor(root, files, control) {
    this.files = files;
    this.control = control;
    this.total = files.reduce((n, f) => n + f.size, 0);
    this.done = 0;
    this.fileDone = files.map(() => 0);
    this.samples = [[Date.now(), 0]]; // [time, bytes done], one a second
    this.speeds = []; // bytes per second, one a second

    this.bar = el("progress", { max: "1", value: "0", "aria-label": "Total progress", class: "total" });
    this.line = el("p", { class: "transfer-line", role: "status" }, "Starting…");
    const ns = "http://www.w3.org/2000/svg";
    this.graph = document.createElementNS(ns, "svg");
    this.graph.setAttribute("class", "speed-graph");
    this.graph.setAttribute("viewBox", "0 0 " + GRAPH_SECONDS + " 30");
    this.graph.setAttribute("preserveAspectRatio", "none");
    this.graph.setAttribute("role", "img");
    this.graph.setAttribute("aria-label", "Upload speed over the last minute");
    this.curve = document.createElementNS(ns, "polyline");
    this.curve.setAttribute("fill", "none");
    this.curve.setAttribute("stroke-width", "2");
    this.curve.setAttribute("vector-effect", "non-scaling-stroke");
    this.graph.appendChild(this.curve);

    this.pauseBtn = el("button", { type: "button", class: "pause" }, "Pause");
    this.cancelBtn = el("button", { type: "button", class: "cancel secondary" }, "Cancel");
    this.pauseBtn.addEventListener("click", () => (control.paused ? control.resume() : control.pause()));
    this.cancelBtn.addEventListener("click", () => control.cancel());
    control.onChange = (paused, reason) => {
      this.pauseBtn.textContent = paused ? "Resume" : "Pause";
      if (paused) this.line.textContent = reason || "Paused. Press Resume to go on.";
    };
    const buttons = el("p", { class: "transfer-buttons" });
    buttons.append(this.pauseBtn, " ", this.cancelBtn);

    const list = el("ul", { class: "transfer-files" });
    this.rows = files.slice(0, SHOWN_FILES).map((f) => {
      const li = el("li");
      const dir = f.haulDir !== undefined ? f.haulDir : (f.webkitRelativePath || "").split("/").slice(0, -1).join("/");
      const name = el("span", { class: "file-name" }, (dir ? dir + "/" : "") + f.name);
      const p = el("progress", { max: "1", value: "0", "aria-label": "Progress of " + f.name });
      const pct = el("span", { class: "file-pct" }, "0 %");
      li.append(name, " ", p, " ", pct);
      list.appendChild(li);
      return { p, pct, size: f.size };
    });
    if (files.length > SHOWN_FILES) list.appendChild(el("li", {}, "and " + (files.length - SHOWN_FILES) + " more files"));

    root.replaceChildren(this.bar, this.line, this.graph, buttons, list);
    root.hidden = false;
    this.timer = setInterval(() => this.tick(), 1000);
  }

  add(i, n) {
    this.done += n;
    this.fileDone[i] += n;
    const row = this.rows[i];
    if (row) {
      const frac = row.size ? this.fileDone[i] / row.size : 1;
      row.p.value = frac;
      row.pct.textContent = Math.floor(frac * 100) + " %";
    }
    this.bar.value = this.total ? this.done / this.total : 1;
  }

  // tick samples the bytes done once a second: the speed over the last 5
  // seconds, the time left at the speed of the last 20, and the graph.
  tick() {
    const now = Date.now();
    const prev = this.samples[this.samples.length - 1];
    this.samples.push([now, this.done]);
    if (this.samples.length > GRAPH_SECONDS + 1) this.samples.shift();
    this.speeds.push(Math.max(0, (this.done - prev[1]) * 1000 / Math.max(1, now - prev[0])));
    if (this.speeds.length > GRAPH_SECONDS) this.speeds.shift();
    const over = (secs) => {
      const from = this.samples[Math.max(0, this.samples.length - 1 - secs)];
      return Math.max(0, (this.done - from[1]) * 1000 / Math.max(1, now - from[0]));
    };
    const max = Math.max(...this.speeds, 1);
    this.curve.setAttribute("points", this.speeds.map((v, k) =>
      (GRAPH_SECONDS - this.speeds.length + k + 1) + "," + (29 - 28 * v / max).toFixed(1)).join(" "));
    if (this.control.paused) return;
    const speed = over(5);
    const left = this.total - this.done;
    const slow = over(20);
    this.line.textContent = bytes(this.done) + " of " + bytes(this.total) + " · " + bytes(speed) + "/s" +
      (slow > 0 && left > 0 ? " · " + duration(left / slow) : "");
    this.graph.dataset.speed = String(Math.round(speed));
  }

  stop(text) {
    clearInterval(this.timer);
    this.pauseBtn.disabled = true;
    this.cancelBtn.disabled = true;
    if (text) this.line.textContent = text;
  }
}
