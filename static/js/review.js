// Review queue: select rows for bulk actions, open an item's evidence in place, submit a
// decision with Ctrl+Enter. Without this file every link and form still works.
(() => {
  const rowBoxes = () => document.querySelectorAll('input[name="items"][form="bulk-form"]');

  function updateSelection() {
    const boxes = Array.from(rowBoxes());
    const checked = boxes.filter((box) => box.checked).length;
    const all = document.querySelector("[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
    const count = document.querySelector("[data-selected-count]");
    if (count) {
      count.textContent = checked
        ? `${checked} item${checked === 1 ? "" : "s"} selected.`
        : "Select items in the table to decide or assign them together.";
    }
  }

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches("[data-select-all]")) {
      for (const box of rowBoxes()) box.checked = target.checked;
      updateSelection();
    } else if (target.matches('input[name="items"]')) {
      updateSelection();
    }
  });

  // An item title opens its evidence below the row; a second activation closes it.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const link = event.detail.elt;
    if (!link.matches || !link.matches("[data-expands]")) return;
    const detail = document.getElementById(link.dataset.expands);
    if (detail && !detail.hidden) {
      event.preventDefault();
      detail.hidden = true;
      link.setAttribute("aria-expanded", "false");
    }
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (!target || !target.id || !target.id.endsWith("-slot")) return;
    const detail = target.closest("tr.item-detail");
    if (!detail) return;
    detail.hidden = false;
    const link = document.querySelector(`[data-expands="${detail.id}"]`);
    if (link) link.setAttribute("aria-expanded", "true");
  });

  // Rows replaced after a decision keep telling whether their evidence is open.
  document.addEventListener("htmx:afterSettle", () => {
    for (const link of document.querySelectorAll("[data-expands]")) {
      const detail = document.getElementById(link.dataset.expands);
      link.setAttribute("aria-expanded", detail && !detail.hidden ? "true" : "false");
    }
    updateSelection();
  });

  // A refused decision (segregation of duties, locked cycle) comes back as a 403 that explains
  // itself: show it in place of the item instead of dropping it.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (event.detail.xhr.status === 403 && target && target.classList.contains("item-panel")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    const form = event.target.closest && event.target.closest("form.decision-form");
    if (form && event.target.matches("textarea")) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.addEventListener("DOMContentLoaded", updateSelection);
})();
