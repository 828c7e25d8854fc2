// Alerting pages: protection against leaving with unsaved changes, and confirmations.
// Every page works without this file (the forms post normally).
"use strict";

(() => {
  const snapshot = (form) =>
    JSON.stringify(
      Array.from(form.elements)
        .filter((el) => el.name && el.type !== "submit" && el.type !== "hidden")
        .map((el) => [el.name, el.type === "checkbox" || el.type === "radio" ? el.checked : el.value])
    );

  const guarded = Array.from(document.querySelectorAll("form[data-unsaved-guard]"));
  const initial = new Map(guarded.map((form) => [form, snapshot(form)]));
  let submitting = false;

  const dirtyForms = () => guarded.filter((form) => snapshot(form) !== initial.get(form));

  const refresh = () => {
    for (const form of guarded) {
      const dirty = snapshot(form) !== initial.get(form);
      form.classList.toggle("is-dirty", dirty);
      const hint = form.querySelector("[data-unsaved-hint]");
      if (hint) hint.hidden = !dirty;
    }
  };

  document.addEventListener("input", refresh);
  document.addEventListener("change", refresh);

  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    const message = button && button.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
      return;
    }
    if (event.target.matches("form[data-unsaved-guard]")) submitting = true;
  });

  window.addEventListener("beforeunload", (event) => {
    if (submitting || dirtyForms().length === 0) return;
    event.preventDefault();
    event.returnValue = ""; // Chromium still wants it set to show its "Leave site?" prompt
  });

  // An htmx request from a guarded form (the backtest) is not leaving the page.
  document.body.addEventListener("htmx:beforeRequest", () => {
    submitting = false;
  });
})();
