// The visiontk page: sends the chosen photos to /v1/ and shows the result image and its JSON record.
"use strict";

const ACTIONS = {
  verify: { path: "/v1/face/verify", files: ["a", "b"], options: [] },
  detect: { path: "/v1/face/detect", files: ["image"], options: [], fields: { draw: "true" } },
  upscale: { path: "/v1/sr/upscale", files: ["image"], option: "scale", options: ["2", "3", "4"] },
  stylize: { path: "/v1/style/stylize", files: ["image"], option: "model", options: [] },
};

const $ = (id) => document.getElementById(id);

async function loadStyles() {
  // The style networks this server holds (the page works without them: the option stays empty).
  try {
    const answer = await fetch("/v1/models", { headers: authorization() });
    if (answer.ok) ACTIONS.stylize.options = Object.keys((await answer.json()).models.style || {});
  } catch (e) { /* shown when the user runs something */ }
  showOptions();
}

function authorization() {
  const token = $("token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}

function showOptions() {
  const action = ACTIONS[$("action").value];
  const select = $("option");
  select.replaceChildren(...action.options.map((value) => new Option(value, value)));
  if (action.option === "scale") select.value = "4";
  $("option-label").hidden = action.options.length === 0;
  $("file-b").hidden = action.files.length < 2;
}

function dropped(event) {
  event.preventDefault();
  $("drop").classList.remove("over");
  const photos = [...event.dataTransfer.files];
  for (const [i, input] of [$("file-a"), $("file-b")].entries()) {
    if (!photos[i]) continue;
    const list = new DataTransfer();
    list.items.add(photos[i]);
    input.files = list.files;
  }
}

function clear() {
  for (const id of ["error", "verdict", "json"]) $(id).textContent = "";
  $("images").replaceChildren();
}

function showImage(src, alt) {
  const image = new Image();
  image.src = src;
  image.alt = alt;
  $("images").append(image);
}

async function run(event) {
  event.preventDefault();
  clear();
  const action = ACTIONS[$("action").value];
  const inputs = [$("file-a"), $("file-b")].slice(0, action.files.length);
  if (inputs.some((input) => !input.files.length)) {
    $("error").textContent = `Choose ${action.files.length === 2 ? "two photos" : "a photo"} first.`;
    return;
  }
  const form = new FormData();
  inputs.forEach((input, i) => form.append(action.files[i], input.files[0]));
  for (const [name, value] of Object.entries(action.fields || {})) form.append(name, value);
  if (action.option && $("option").value) form.append(action.option, $("option").value);
  $("busy").hidden = false;
  $("run").disabled = true;
  try {
    const answer = await fetch(action.path, {
      method: "POST", body: form, headers: { Accept: "application/json", ...authorization() },
    });
    const text = await answer.text();
    let record;
    try { record = JSON.parse(text); } catch (e) { record = { error: text || answer.statusText }; }
    if (!answer.ok) {
      $("error").textContent = `Error ${answer.status}${record.kind ? " (" + record.kind + ")" : ""}: ${record.error}`;
      $("json").textContent = JSON.stringify(record, null, 1);
      return;
    }
    show(action, inputs, record);
  } catch (e) {
    $("error").textContent = "Could not reach the server: " + e.message;
  } finally {
    $("busy").hidden = true;
    $("run").disabled = false;
  }
}

function show(action, inputs, record) {
  if (action === ACTIONS.verify) {
    $("verdict").textContent = `${record.same ? "Same person" : "Different people"} ` +
      `(distance ${record.distance.toFixed(3)}, same at most ${record.max_distance})`;
    inputs.forEach((input) => showImage(URL.createObjectURL(input.files[0]), input.files[0].name));
  } else if (action === ACTIONS.detect) {
    $("verdict").textContent = `${record.faces.length} face(s)`;
  }
  if (record.image) showImage(record.image, "result");
  const shown = { ...record };
  if (shown.image) shown.image = shown.image.slice(0, 40) + "…";
  $("json").textContent = JSON.stringify(shown, null, 1);
}

$("action").addEventListener("change", showOptions);
$("form").addEventListener("submit", run);
$("drop").addEventListener("dragover", (e) => { e.preventDefault(); $("drop").classList.add("over"); });
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", dropped);
$("token").addEventListener("change", loadStyles);
loadStyles();
