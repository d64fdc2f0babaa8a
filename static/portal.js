// Account Portal's only script. Every page works without it; with it (and htmx) it adds:
// the CSRF header, a confirmation dialog that names what is at stake, a busy state on forms,
// focus and announcements after each in-place update, the users list's bulk bar, local times,
// and the recovery codes' copy and print buttons.
"use strict";

// --- CSRF: read from the page each time, so a page that rotated it (sign-in) is honoured. ---------
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRFToken"] = meta.content;
});

// --- Confirmation: a <dialog> that says what happens, with Cancel first. --------------------------
let dialog = null;

function confirmDialog() {
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "confirm_dialog";
  dialog.setAttribute("aria-labelledby", "confirm_dialog-title");
  dialog.setAttribute("aria-describedby", "confirm_dialog-detail");
  dialog.innerHTML =
    '<article><h2 id="confirm_dialog-title"></h2><p id="confirm_dialog-detail"></p>' +
    '<footer><button type="button" class="secondary" value="cancel">Cancel</button>' +
    '<button type="button" class="contrast" value="ok"></button></footer></article>';
  dialog.querySelectorAll("button").forEach((button) => {
    button.addEventListener("click", () => dialog.close(button.value));
  });
  document.body.append(dialog);
  return dialog;
}

// Ask; resolves true when confirmed. The question's first sentence is the title, the rest the detail.
function ask(question, label) {
  const box = confirmDialog();
  const [, title, detail] = question.match(/^(.*?[?.!])(?:\s+(.*))?$/s) || [null, question, ""];
  box.querySelector("h2").textContent = title;
  box.querySelector("p").textContent = detail || "";
  box.querySelector("p").hidden = !detail;
  box.querySelector('button[value="ok"]').textContent = label || "Confirm";
  const opener = document.activeElement;
  box.returnValue = "";
  box.showModal();
  box.querySelector('button[value="cancel"]').focus();
  return new Promise((resolve) => {
    box.addEventListener("close", () => {
      // "close" is queued after the dialog has closed (and the browser has put the focus back): only a focus
      // still lost is returned to the opener, never one the person has since moved elsewhere.
      const lost = !document.activeElement || document.activeElement === document.body || box.contains(document.activeElement);
      if (lost && opener && opener.isConnected) opener.focus();
      resolve(box.returnValue === "ok");
    }, { once: true });
  });
}

function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

// The bulk form's question, from the chosen action's data-confirm ("Delete {users}? …"); none when
// the action is not destructive.
function bulkQuestion(form) {
  const option = form.querySelector('select[name="action"]')?.selectedOptions[0];
  if (!option || !option.dataset.confirm) return null;
  const users = plural(selectedCount(form), "user", "users");
  return { question: option.dataset.confirm.replaceAll("{users}", users),
           label: (option.dataset.confirmLabel || "Confirm").replaceAll("{users}", users) };
}

document.addEventListener("htmx:confirm", (event) => {
  const elt = event.detail.elt;
  let question = event.detail.question;
  let label = elt.closest("[data-confirm-label]")?.dataset.confirmLabel;
  const confirmField = elt.matches("form") ? elt.querySelector('input[name="confirm"]') : null;
  if (elt.matches("form[data-bulk]")) {
    const asked = bulkQuestion(elt);
    if (!asked || selectedCount(elt) === 0) return;
    ({ question, label } = asked);
  }
  if (!question) return;
  event.preventDefault();
  ask(question, label).then((ok) => {
    if (!ok) return;
    if (confirmField) confirmField.value = "yes";
    event.detail.issueRequest(true);
    if (confirmField) confirmField.value = "";
  });
});

// --- Busy: a form being submitted says so and cannot be submitted twice. -------------------------
function busyParts(elt) {
  const form = elt.closest("form");
  if (!form) return null;
  return { form, buttons: [...form.querySelectorAll('button:not([type="button"]), input[type="submit"]')] };
}

document.addEventListener("htmx:beforeRequest", (event) => {
  // Disabling a focused button blurs it: remember, with the request, what had focus first.
  if (event.detail.xhr) event.detail.xhr.portalFocus = focusKey(document.activeElement);
  const trigger = event.detail.requestConfig?.triggeringEvent;
  const region = event.detail.target;
  if (region) region.setAttribute("aria-busy", "true");
  if (trigger && trigger.type !== "submit" && !event.detail.elt.matches("button")) return;
  const parts = busyParts(event.detail.elt);
  if (!parts) return;
  parts.form.setAttribute("aria-busy", "true");
  const submitter = trigger?.submitter || (event.detail.elt.matches("button") ? event.detail.elt : parts.buttons[0]);
  parts.buttons.forEach((button) => {
    button.disabled = true;
    if (button === submitter) button.setAttribute("aria-busy", "true");
  });
});

document.addEventListener("htmx:afterRequest", (event) => {
  const region = event.detail.target;
  if (region) region.removeAttribute("aria-busy");
  const parts = busyParts(event.detail.elt);
  if (!parts) return;
  parts.form.removeAttribute("aria-busy");
  parts.buttons.forEach((button) => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  });
});

// --- Focus and announcements after an in-place update. ---------------------------------------------
// Before the swap: what had focus, and a region that will still be there (to fall back on). Kept with the
// request (its xhr): a second request (a list reloading itself) may be answered before the first settles.

function focusKey(elt) {
  if (!elt || elt === document.body) return null;
  if (elt.id) return `#${CSS.escape(elt.id)}`;
  if (elt.dataset.focusKey) return `[data-focus-key="${CSS.escape(elt.dataset.focusKey)}"]`;
  return null;
}

document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  const xhr = event.detail.xhr || {};
  const anchor = target?.parentElement?.closest("section[id], article[id], main");
  xhr.portalMemory = { key: focusKey(document.activeElement) || xhr.portalFocus || null, targetId: target?.id || null,
                       anchor };
});

function focusable(elt) {
  if (!elt.matches("a[href], button, input, select, textarea, summary, [tabindex]")) {
    elt.setAttribute("tabindex", "-1");
  }
  return elt;
}

function place(elt) {
  focusable(elt).focus({ preventScroll: false });
}

// Seen by everyone: laid out, and not the 1-pixel text kept for screen readers (a focus ring there is lost).
function shown(elt) {
  return elt.getClientRects().length > 0 && !elt.closest(".visually-hidden");
}

function lostFocus() {
  const active = document.activeElement;
  return !active || active === document.body || active === document.documentElement || !active.isConnected;
}

function settleFocus(fresh, memory) {
  const wanted = fresh.querySelector("[data-focus]") || (fresh.matches("[data-focus]") ? fresh : null);
  const invalid = fresh.querySelector('[aria-invalid="true"]');
  if (invalid) return place(invalid);
  if (wanted) return place(wanted);
  if (!lostFocus()) return;
  const same = memory.key && document.querySelector(memory.key);
  if (same) return place(same);
  const heading = [...fresh.querySelectorAll("h1, h2, h3, legend")].find(shown);
  if (heading) return place(heading);
  if (fresh.isConnected && fresh !== document.body) return place(fresh);
  const anchor = memory.anchor && memory.anchor.isConnected ? memory.anchor : document.querySelector("main");
  place([...anchor.querySelectorAll("h1, h2, h3")].find(shown) || anchor);
}

function announce(fresh) {
  const parts = [...fresh.querySelectorAll("[data-announce]")];
  if (fresh.matches("[data-announce]")) parts.unshift(fresh);
  const text = parts.map((part) => part.textContent.replace(/\s+/g, " ").trim()).filter(Boolean).join(" ");
  const announcer = document.getElementById("announcer");
  if (!text || !announcer) return;
  announcer.textContent = "";
  window.setTimeout(() => { announcer.textContent = text; }, 50);
}

let settled = null;  // htmx settles each swapped element (out-of-band ones too): act once per response

document.addEventListener("htmx:afterSettle", (event) => {
  if (event.detail.xhr && event.detail.xhr === settled) return;
  settled = event.detail.xhr;
  const memory = event.detail.xhr?.portalMemory || {};
  const target = event.detail.target;
  const fresh = (memory.targetId && document.getElementById(memory.targetId)) || (target?.isConnected ? target : null);
  // A region that went away (a removed row): what surrounded it, with its heading.
  const region = fresh || (memory.anchor?.isConnected ? memory.anchor : document.querySelector("main"));
  enhance(document);  // first: it shows and hides parts (the bulk bar), and focus goes only to what is shown
  announce(region);
  settleFocus(region, memory);
});

// --- The users list's bulk bar: appears once someone is ticked, shows the fields the action needs. --
function selectedCount(form) {
  const all = form.querySelector('input[name="all_matching"]');
  if (all && all.checked) return Number(all.dataset.total || 0);
  return form.querySelectorAll('input[name="user_ids"]:checked').length;
}

function updateBulk(form) {
  const bar = form.querySelector("[data-bulk-bar]");
  if (!bar) return;
  const count = selectedCount(form);
  const hasErrors = bar.querySelector(".error") !== null;
  bar.hidden = count === 0 && !hasErrors;
  const counter = bar.querySelector("[data-bulk-count]");
  if (counter) counter.textContent = count ? `${count.toLocaleString()} selected` : "Nobody selected";
  const action = form.querySelector('select[name="action"]')?.value;
  bar.querySelectorAll("[data-for-action]").forEach((field) => {
    field.hidden = !field.dataset.forAction.split(" ").includes(action);
  });
}

function enhanceBulk(form) {
  if (form.dataset.enhanced) return;
  form.dataset.enhanced = "yes";
  form.addEventListener("change", () => updateBulk(form));
  updateBulk(form);
}

// --- Times in the viewer's own time zone (the page says UTC without JavaScript). -----------------
const localTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const fullTime = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

function enhanceTime(time) {
  if (time.dataset.enhanced) return;
  time.dataset.enhanced = "yes";
  const when = new Date(time.getAttribute("datetime"));
  if (Number.isNaN(when.getTime())) return;
  if (time.dataset.local === "full") time.textContent = localTime.format(when);
  time.title = fullTime.format(when);
}

// --- Recovery codes: copy and print (download works without JavaScript). -------------------------
function enhanceCodes(box) {
  if (box.dataset.enhanced) return;
  box.dataset.enhanced = "yes";
  const codes = [...box.querySelectorAll(".codes code")].map((code) => code.textContent).join("\n");
  const status = box.querySelector("[data-codes-status]");
  box.querySelectorAll("[data-js-only]").forEach((elt) => { elt.hidden = false; });
  box.querySelector("[data-copy-codes]")?.addEventListener("click", () => {
    navigator.clipboard.writeText(`${codes}\n`).then(
      () => { status.textContent = "Copied the codes."; },
      () => { status.textContent = "Could not copy: select the codes and copy them yourself."; },
    );
  });
  box.querySelector("[data-print-codes]")?.addEventListener("click", () => window.print());
}

function enhance(root) {
  root.querySelectorAll("form[data-bulk]").forEach(enhanceBulk);
  root.querySelectorAll("time[data-local]").forEach(enhanceTime);
  root.querySelectorAll(".recovery-codes").forEach(enhanceCodes);
}

document.addEventListener("DOMContentLoaded", () => enhance(document));
