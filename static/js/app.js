// Small progressive enhancements; every page works without this file.
"use strict";

document.addEventListener("change", (event) => {
  const form = event.target.closest("form[data-autosubmit]");
  if (form) form.requestSubmit();
});
