// Small progressive enhancements; every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // "Go back" on error pages: shown only when there is somewhere to go back to.
  for (const link of document.querySelectorAll("[data-history-back]")) {
    if (window.history.length > 1) link.hidden = false;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      window.history.back();
    });
  }

  // Confirm destructive actions marked with data-confirm.
  document.body.addEventListener("submit", (event) => {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // A form marked data-submit-once sends once, even if its button is pressed twice (the
  // server refuses what it must anyway; this spares people a duplicate or a confusing error).
  document.body.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || !form.matches("form[data-submit-once]")) return;
    if (form.dataset.submitted) {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "true";
    form.setAttribute("aria-busy", "true");
  });
  // Coming back with the browser's Back button shows the form usable again.
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[data-submitted]").forEach((form) => {
      delete form.dataset.submitted;
      form.removeAttribute("aria-busy");
    });
  });
});
