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
});
