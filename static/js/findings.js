// Findings list: filters, severity chips, sort headers and pages load in place through htmx.
// A chip or a sort header sets its value in the filter form and sends the form, so that one
// request carries every filter: a chip clicked while an account change is on its way keeps
// that change too (both were links of their own, which raced it). The form's requests queue
// (hx-sync), so the last one asked is what shows. The table says which filters it shows
// (data-*); they are copied into the form, so that it always shows what the table does.
// Without this file every chip, header and page is a plain link.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("findings-filters");
  if (!form) return;
  document.body.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("#findings-table a[data-filter]");
    // A new tab or window (a modifier, the middle button) follows the link itself.
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const field = form.elements.namedItem(link.dataset.filter);
    if (!field || !window.htmx) return;
    event.preventDefault();
    field.value = link.dataset.value;
    window.htmx.trigger(form, "change");
  });
  document.body.addEventListener("htmx:afterSettle", () => {
    const table = document.getElementById("findings-table");
    if (!table) return;
    for (const name of ["q", "account", "check", "sort", "severity", "status"]) {
      const field = form.elements.namedItem(name);
      // Not the box being typed in: its text is newer than the table.
      if (!field || table.dataset[name] === undefined || field === document.activeElement) continue;
      field.value = table.dataset[name];
    }
  });
});
