// The Events page's enhancements. Without this file the page still works as forms and links.
"use strict";

(() => {
  const form = () => document.getElementById("filters");
  let openedId = null; // the event whose drawer is open, to give focus back to its row

  // A drop-down applies as soon as it changes, the region's in the tabs row included. Typed
  // fields (search, IP, IDs, dates) apply on Enter or Apply: the form's one trigger is `submit`,
  // so each of those sends one request, never a "change" request cancelled by the submit's.
  document.addEventListener("change", (event) => {
    const control = event.target;
    if (!(control instanceof HTMLSelectElement) || control.form !== form()) return;
    form()?.requestSubmit();
  });

  // Picking a method from the suggestions applies it, as choosing from a drop-down does.
  document.addEventListener("input", (event) => {
    const control = event.target;
    if (!(control instanceof HTMLInputElement) || !control.list || control.form !== form()) return;
    if (event.inputType && event.inputType !== "insertReplacementText") return; // typing, not picking
    if ([...control.list.options].some((option) => option.value === control.value)) form()?.requestSubmit();
  });

  // Method choices follow the product: a method of the old product means nothing for the new one.
  document.addEventListener("change", (event) => {
    if (event.target?.id !== "id_product") return;
    const method = document.getElementById("id_method");
    if (method) method.value = "";
  }, true);

  // Keep URLs readable: drop empty parameters from the filter form's requests.
  document.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.elt !== form()) return;
    const params = event.detail.parameters;
    const empty = [];
    if (params instanceof FormData) {
      for (const [key, value] of params.entries()) if (value === "") empty.push(key);
      for (const key of empty) params.delete(key);
    } else {
      for (const key of Object.keys(params)) if (params[key] === "") delete params[key];
    }
  });

  // A new search closes the drawer: it showed one event of the old list.
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt !== form()) return;
    const drawer = document.getElementById("drawer");
    if (drawer) drawer.replaceChildren();
    openedId = null;
    markSelected(null);
  });

  function markSelected(id) {
    for (const row of document.querySelectorAll("#events-table tr.is-selected")) row.classList.remove("is-selected");
    if (!id) return;
    const row = document.querySelector(`#events-table tr[data-event-id="${CSS.escape(id)}"]`);
    if (row) row.classList.add("is-selected");
  }

  function drawerOpened() {
    const dialog = document.querySelector("#drawer dialog.drawer");
    markSelected(dialog ? dialog.dataset.eventId : null);
    // The server renders a plain open <dialog> (it works without script); with script it becomes
    // modal, so focus stays in the drawer and the page behind it is inert until it closes.
    if (dialog && dialog.open && !dialog.matches(":modal")) {
      dialog.close();
      dialog.showModal();
      dialog.querySelector("#drawer-title")?.focus();
    }
    for (const button of document.querySelectorAll("[data-copy-json]")) button.hidden = !navigator.clipboard;
    return dialog;
  }

  // Closing the drawer puts focus back on the row that opened it, not at the top of the page.
  function drawerSettled(event) {
    const dialog = drawerOpened();
    if (dialog) {
      openedId = dialog.dataset.eventId;
      return;
    }
    if (!openedId || event?.detail?.target?.id !== "drawer") return;
    const row = document.querySelector(`#events-table tr[data-event-id="${CSS.escape(openedId)}"]`);
    openedId = null;
    row?.querySelector("a.event-link")?.focus();
  }

  // The timeline is one stop in the Tab order (not one per bar): arrow keys move between its bars.
  function rovingTimeline() {
    const bars = [...document.querySelectorAll(".timeline-chart a.bar")];
    if (!bars.length || bars.some((bar) => bar.getAttribute("tabindex") === "0")) return;
    bars.forEach((bar, index) => bar.setAttribute("tabindex", index === bars.length - 1 ? "0" : "-1"));
  }
  document.addEventListener("keydown", (event) => {
    const bar = event.target instanceof Element ? event.target.closest(".timeline-chart a.bar") : null;
    if (!bar) return;
    const bars = [...bar.closest(".timeline-chart").querySelectorAll("a.bar")];
    const moves = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1 };
    let index = bars.indexOf(bar);
    if (event.key in moves) index = Math.min(bars.length - 1, Math.max(0, index + moves[event.key]));
    else if (event.key === "Home") index = 0;
    else if (event.key === "End") index = bars.length - 1;
    else return;
    event.preventDefault();
    for (const other of bars) other.setAttribute("tabindex", "-1");
    bars[index].setAttribute("tabindex", "0");
    bars[index].focus();
  });

  // The top values fold and unfold; the choice is kept for the next pages (the server reads it).
  document.addEventListener("toggle", (event) => {
    if (event.target.id !== "facets") return;
    const state = event.target.open ? "open" : "closed";
    document.cookie = `facets=${state}; path=/; max-age=31536000; SameSite=Lax`;
  }, true);

  // The top values' grid comes in a request of its own (hx-get on #facet-grid): if it fails, say
  // so and offer to ask again, instead of "Counting top values…" for ever.
  function facetsFailed(event) {
    const grid = event.detail.elt;
    if (!(grid instanceof Element) || grid.id !== "facet-grid") return;
    grid.classList.remove("is-loading");
    grid.removeAttribute("aria-busy");
    const note = document.createElement("p");
    note.className = "facets-note facets-error";
    note.setAttribute("role", "alert");
    const retry = document.createElement("a");
    retry.href = grid.getAttribute("hx-get");
    retry.className = "facets-retry";
    retry.textContent = "Try again";
    note.append("Could not count the top values. ", retry);
    grid.replaceChildren(note);
  }
  document.addEventListener("htmx:responseError", facetsFailed);
  document.addEventListener("htmx:sendError", facetsFailed);
  document.addEventListener("htmx:timeout", facetsFailed);
  document.addEventListener("click", (event) => {
    const retry = event.target instanceof Element ? event.target.closest("#facet-grid .facets-retry") : null;
    if (!retry) return;
    event.preventDefault();
    const grid = retry.closest("#facet-grid");
    const status = document.createElement("p");
    status.className = "facets-note muted";
    status.setAttribute("role", "status");
    status.textContent = "Counting top values…";
    grid.replaceChildren(status);
    grid.classList.add("is-loading");
    grid.setAttribute("aria-busy", "true");
    htmx.trigger(grid, "facets-retry");
  });

  document.addEventListener("htmx:afterSettle", (event) => {
    drawerSettled(event);
    rovingTimeline();
  });
  document.addEventListener("DOMContentLoaded", () => {
    drawerSettled();
    rovingTimeline();
  });

  // Escape closes the drawer (through its own link, so the URL follows).
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const close = document.querySelector("#drawer .drawer-close");
    if (close) {
      event.preventDefault();
      close.click();
    }
  });

  // A click on the modal drawer's backdrop closes it, like the backdrop link does without script.
  document.addEventListener("click", (event) => {
    if (event.target instanceof HTMLDialogElement && event.target.matches("#drawer dialog.drawer")) {
      event.target.querySelector(".drawer-close")?.click();
    }
  });

  // A click anywhere on a row opens its event, as the date link in that row does.
  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof Element) || target.closest("a, button, input, select, code")) return;
    const row = target.closest("#events-table tbody tr");
    if (!row || window.getSelection()?.toString()) return;
    row.querySelector("a.event-link")?.click();
  });

  // "5 min ago" stays true while the page is open (the server wrote it as of the page's load).
  function ago(then, now) {
    let seconds = Math.trunc((now - then) / 1000);
    const future = seconds < 0;
    seconds = Math.abs(seconds);
    if (seconds < 60) return "just now";
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
      if (seconds >= size) {
        const amount = `${Math.trunc(seconds / size)} ${unit}`;
        return future ? `in ${amount}` : `${amount} ago`;
      }
    }
    return "just now";
  }
  setInterval(() => {
    const now = Date.now();
    for (const cell of document.querySelectorAll("#events-table td.col-date")) {
      const time = cell.querySelector("time[datetime]");
      const label = cell.querySelector(".ago");
      const then = time ? Date.parse(time.getAttribute("datetime")) : NaN;
      if (label && !Number.isNaN(then)) label.textContent = ago(then, now);
    }
  }, 30000);

  // Copy JSON: the event as the API returns it.
  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-copy-json]") : null;
    if (!button) return;
    const source = document.getElementById(button.dataset.copyJson);
    const status = button.parentElement.querySelector(".copy-status");
    try {
      await navigator.clipboard.writeText(JSON.stringify(JSON.parse(source.textContent), null, 2));
      if (status) status.textContent = "Copied to the clipboard.";
    } catch {
      if (status) status.textContent = "Could not copy: select the JSON and copy it by hand.";
    }
  });
})();
