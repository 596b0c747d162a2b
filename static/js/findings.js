// Findings list: severity chips, sort headers and pages load in place through htmx. The table
// says which filters it shows (data-*); copy them into the filter form, so that the next
// change there keeps them. Without this file every link still works as a plain link.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("findings-filters");
  if (!form) return;
  document.body.addEventListener("htmx:afterSettle", () => {
    const table = document.getElementById("findings-table");
    if (!table) return;
    for (const name of ["sort", "severity", "status"]) {
      const field = form.elements.namedItem(name);
      if (field && table.dataset[name] !== undefined) field.value = table.dataset[name];
    }
  });
});
