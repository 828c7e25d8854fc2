// IAM ▸ Logs: the "More info" link loads the entry into the <dialog> (htmx) and opens it.
// Without JavaScript the link is a plain link to the entry's own page.
"use strict";

document.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  if (!target || target.id !== "log-dialog-body") return;
  const dialog = target.closest("dialog");
  if (dialog && !dialog.open) dialog.showModal();
});

// Closing the dialog by clicking its backdrop, as people expect of a popup.
document.addEventListener("click", (event) => {
  const dialog = event.target;
  if (dialog instanceof HTMLDialogElement && dialog.open && dialog.id === "log-dialog") dialog.close();
});

// The one-time secret: a Copy button (shown only when the clipboard is usable).
for (const button of document.querySelectorAll("button[data-copy]")) {
  if (!navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  });
}
