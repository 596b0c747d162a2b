// Collection pages: a form marked data-submit-once sends once, even if its button is pressed twice.
// (The server refuses duplicates anyway; this only spares people a confusing error.)
document.addEventListener("DOMContentLoaded", () => {
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
