"use strict";
// The page of `pixrescue serve`: uploads pictures to the JSON API, polls their jobs, shows the results.

const $ = (selector, root = document) => root.querySelector(selector);
const items = [];
let limits = null;

fetch("/api/limits").then((r) => r.json()).then((l) => {
  limits = l;
  $("#limits").textContent = `Up to ${(l.max_bytes / 1048576).toFixed(0)} MB and ${(l.max_pixels / 1e6).toFixed(0)} megapixels a picture; results are kept ${Math.round(l.keep_seconds / 60)} minutes.`;
}).catch(() => {});

// Options

function kind() { return $("input[name=kind]:checked").value; }

function showOptions() {
  for (const box of document.querySelectorAll(".option")) box.hidden = box.dataset.for !== kind();
}

function chosen() {
  const options = { kind: kind() };
  if (options.kind === "fix" && $("#set-strength").checked) options.strength = $("#strength").value;
  if (options.kind === "upscale") options.scale = $("#upscale-scale").value;
  if (options.kind === "shrink") options.scale = $("#shrink-scale").value;
  return options;
}

for (const radio of document.querySelectorAll("input[name=kind]")) radio.addEventListener("change", showOptions);
$("#set-strength").addEventListener("change", (e) => { $("#strength").disabled = !e.target.checked; });
$("#strength").addEventListener("input", (e) => { $("#strength-value").textContent = e.target.value; });

// Choosing, dropping and pasting pictures

const drop = $("#drop");
$("#files").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
drop.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#files").click(); }
});
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  addFiles(e.dataTransfer.files);
});
document.addEventListener("paste", (e) => {
  const files = [...(e.clipboardData ? e.clipboardData.files : [])];
  if (files.length) { e.preventDefault(); addFiles(files); }
});

function addFiles(files) {
  for (const file of files) {
    const item = newItem(file, chosen());
    if (limits && file.size > limits.max_bytes) {
      fail(item, `too large: ${file.size.toLocaleString()} bytes, the limit is ${limits.max_bytes.toLocaleString()}`);
    } else if (file.size === 0) {
      fail(item, "empty file");
    } else {
      submit(item);
    }
  }
}

// The queue

function newItem(file, options) {
  const li = $("#item").content.firstElementChild.cloneNode(true);
  $(".name", li).textContent = file.name || "pasted picture";
  $("#queue").append(li);
  $("#empty").hidden = true;
  const item = { file, options, li, id: null, job: null };
  items.push(item);
  state(item, "waiting to upload", 0);
  return item;
}

function state(item, text, percent) {
  $(".state", item.li).textContent = text;
  const bar = $("progress", item.li);
  if (percent === undefined) bar.removeAttribute("value"); else bar.value = percent;
  bar.hidden = percent === null;
}

function fail(item, message) {
  item.li.classList.add("failed");
  state(item, `Failed: ${message}`, null);
}

function submit(item) {
  const form = new FormData();
  form.append("file", item.file, item.file.name || "pasted.png");
  for (const [key, value] of Object.entries(item.options)) if (key !== "file") form.append(key, value);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/jobs");
  xhr.responseType = "json";
  xhr.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) state(item, `uploading ${Math.round((100 * e.loaded) / e.total)} %`, (100 * e.loaded) / e.total);
  });
  xhr.addEventListener("load", () => {
    const body = xhr.response || {};
    if (xhr.status === 202) {
      item.id = body.id;
      update(item, body);
    } else if (xhr.status === 429 || xhr.status === 503) {
      const wait = Number(xhr.getResponseHeader("Retry-After") || 5);
      state(item, `${body.error || "the server is busy"}; trying again in ${wait} s`, undefined);
      setTimeout(() => submit(item), wait * 1000);
    } else {
      fail(item, body.error || `the server answered ${xhr.status}`);
    }
  });
  xhr.addEventListener("error", () => fail(item, "the server could not be reached"));
  xhr.send(form);
}

async function poll(item) {
  let body;
  try {
    const response = await fetch(`/api/jobs/${item.id}`);
    body = await response.json();
    if (!response.ok) { fail(item, body.error || `the server answered ${response.status}`); return; }
  } catch (e) {
    setTimeout(() => poll(item), 2000);
    return;
  }
  update(item, body);
}

function update(item, job) {
  item.job = job;
  const waiting = { checking: "checking", queued: job.position ? `queued, ${job.position} before it` : "queued, next",
    running: "working" }[job.status];
  if (waiting) {
    state(item, waiting, undefined);
    setTimeout(() => poll(item), 400);
    return;
  }
  if (job.status !== "done") { fail(item, job.error || job.status); return; }
  item.li.classList.add("done");
  state(item, "done", null);
  if (job.result && !item.shown) showResult(item, job);
  if (job.facts) showFacts(item, job); else setTimeout(() => poll(item), 700);
  refreshAll();
}

function refreshAll() {
  const done = items.filter((i) => i.job && i.job.result);
  const all = $("#all");
  all.hidden = done.length < 2;
  all.href = "/api/results.zip?" + done.map((i) => `ids=${i.id}`).join("&");
}

// The before / after viewer: a slider over two images, zoom (buttons, wheel, + and -) and pan (drag, arrows)

function showResult(item, job) {
  item.shown = true;
  const li = item.li;
  const viewer = $(".viewer", li);
  const before = $(".before", li);
  const after = $(".after", li);
  before.src = URL.createObjectURL(item.file);
  before.addEventListener("error", () => { before.src = job.result; $(".slider", li).value = 0; clip(); });
  after.src = job.result;
  const download = $(".download", li);
  download.href = job.result;
  download.download = job.download_name;
  viewer.hidden = false;

  const frame = $(".frame", li);
  const stage = $(".stage", li);
  const slider = $(".slider", li);
  const view = { zoom: 1, x: 0, y: 0 };
  function clip() {
    $(".clip", li).style.clipPath = `inset(0 0 0 ${slider.value}%)`;
    $(".divider", li).style.left = `${slider.value}%`;
  }
  function place() {
    const w = frame.clientWidth, h = stage.clientHeight;
    view.zoom = Math.min(16, Math.max(1, view.zoom));
    view.x = Math.min(0, Math.max(w - w * view.zoom, view.x));
    view.y = Math.min(0, Math.max(Math.min(frame.clientHeight, h) - h * view.zoom, view.y));
    stage.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.zoom})`;
    $(".zoom", li).textContent = `${Math.round(view.zoom * 100)} %`;
  }
  function zoomBy(factor, cx = frame.clientWidth / 2, cy = frame.clientHeight / 2) {
    const zoom = Math.min(16, Math.max(1, view.zoom * factor));
    view.x = cx - ((cx - view.x) * zoom) / view.zoom;
    view.y = cy - ((cy - view.y) * zoom) / view.zoom;
    view.zoom = zoom;
    place();
  }
  slider.addEventListener("input", clip);
  clip();
  $(".zoom-in", li).addEventListener("click", () => zoomBy(1.5));
  $(".zoom-out", li).addEventListener("click", () => zoomBy(1 / 1.5));
  $(".zoom-reset", li).addEventListener("click", () => { view.zoom = 1; view.x = view.y = 0; place(); });
  frame.addEventListener("wheel", (e) => {
    e.preventDefault();
    const box = frame.getBoundingClientRect();
    zoomBy(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - box.left, e.clientY - box.top);
  }, { passive: false });
  let drag = null;
  frame.addEventListener("pointerdown", (e) => { drag = { x: e.clientX - view.x, y: e.clientY - view.y }; frame.setPointerCapture(e.pointerId); });
  frame.addEventListener("pointermove", (e) => { if (drag) { view.x = e.clientX - drag.x; view.y = e.clientY - drag.y; place(); } });
  frame.addEventListener("pointerup", () => { drag = null; });
  frame.addEventListener("keydown", (e) => {
    const step = 40;
    const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[e.key]) { view.x += moves[e.key][0]; view.y += moves[e.key][1]; place(); }
    else if (e.key === "+" || e.key === "=") zoomBy(1.5);
    else if (e.key === "-") zoomBy(1 / 1.5);
    else if (e.key === "0") { view.zoom = 1; place(); }
    else return;
    e.preventDefault();
  });
}

// The facts pixrescue found

function showFacts(item, job) {
  const f = job.facts;
  const s = job.summary;
  const rows = [["picture", `${f.format || s.format || "?"} ${f.width}×${f.height}${f.frames > 1 ? `, ${f.frames} frames` : ""}${f.has_alpha ? ", transparent" : ""}`]];
  if (f.error) rows.push(["inspection", f.error]);
  if (f.jpeg_quality != null) rows.push(["JPEG quality", `${f.jpeg_quality}${f.jpeg_quality_exact ? "" : " (closest standard tables)"}, subsampling ${f.subsampling}`]);
  if (f.recompressed) rows.push(["earlier compression", `about quality ${f.first_quality}`]);
  if (f.shifted_grid) rows.push(["earlier blocks", `shifted by ${f.shifted_grid[1]}, ${f.shifted_grid[0]} pixels`]);
  if (f.estimated_quality != null) rows.push(["quality the pixels show", `${f.estimated_quality}${f.dct_quality != null ? ` (DCT histograms: ${f.dct_quality})` : ""}`]);
  if (f.blockiness != null) rows.push(["blockiness", `${f.blockiness.toFixed(2)} (1.0: no blocks)`]);
  if (f.blurred != null) rows.push(["blurred", f.blurred ? "yes" : "no"]);
  if (f.noise != null) rows.push(["noise", `${f.noise.toFixed(1)} levels`]);
  if (f.quality_score != null) rows.push(["quality score", `${Math.round(f.quality_score)} / 100`]);
  if (s.did) rows.push(["what pixrescue did", s.did]);
  if (job.kind === "fix" && job.strength) rows.push(["what fix did", `treated it as JPEG quality ${job.strength} (your setting)`]);
  else if (f.fix) rows.push([job.kind === "fix" ? "what fix did" : "what fix would do", f.fix + (f.fix_projects ? "; kept within the file's quantization intervals" : "")]);
  if (s.output_width) rows.push(["result", `${s.output_width}×${s.output_height} PNG`]);
  if (f.recommendations) rows.push(["would help", f.recommendations.length ? f.recommendations.join(", ") : "nothing"]);
  const dl = $(".facts", item.li);
  dl.replaceChildren();
  for (const [term, value] of rows) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = value;
    dl.append(dt, dd);
  }
  dl.hidden = false;
}
