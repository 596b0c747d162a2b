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
    // Refused, or sent back to be completed (a justification missing, a conflict): stay. Only
    // a decision recorded (its answer triggers item-decided) moves on.
    const triggers = event.detail.xhr.getResponseHeader("HX-Trigger-After-Settle") || "";
    if (event.detail.xhr.status !== 200 || !triggers.includes("item-decided")) {
      advanceAfterDecision = false;
    }
    const target = event.detail.target;
    if (event.detail.xhr.status === 403 && target && target.classList.contains("item-panel")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Set by Ctrl+Enter: on an item's own page the next undecided item then opens (a decision
  // recorded with the mouse stays, to be read).
  let advanceAfterDecision = false;

  // From any field of the form: the justification, the expiry date, the delegate, a choice.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    const form = event.target.closest && event.target.closest("form.decision-form");
    if (form) {
      event.preventDefault();
      advanceAfterDecision = true;
      // htmx wires swapped-in content when it settles (20 ms later): a quick Ctrl+Enter on a
      // panel that has just opened would otherwise post the page and leave the queue.
      if (window.htmx) window.htmx.process(form);
      form.requestSubmit();
    }
  });

  document.addEventListener("DOMContentLoaded", updateSelection);

  // Back to the queue from an item ("q": ?item=N#item-N-row): that row is where the keys go on
  // from (j went to the page's first row), and its title has the focus, so that Enter opens it
  // and Tab goes on from there. Chromium scrolls to the row named by the address after this
  // and, the row not being focusable, takes the focus away to the page: made focusable for
  // that moment, the row receives the focus and hands it on to its title.
  document.addEventListener("DOMContentLoaded", () => {
    const match = /^#(item-\d+-row)$/.exec(window.location.hash);
    const row = match && document.getElementById(match[1]);
    if (!row || !row.matches("tr.item-row")) return;
    row.tabIndex = -1;
    row.addEventListener("focus", () => {
      row.removeAttribute("tabindex");
      titleOf(row).focus({ preventScroll: true });
    }, { once: true });
    focusRow(row);
  });

  // --- Keyboard: move through the queue and decide without the mouse ("?" shows the keys) ----
  const DECISION_KEYS = { 1: "keep", 2: "remediate", 3: "accept_risk", 4: "false_positive", 5: "delegate" };
  const rows = () => Array.from(document.querySelectorAll("tr.item-row"));
  const titleOf = (row) => row.querySelector(".item-title");
  const detailOf = (row) => document.getElementById(row.id.replace(/-row$/, "-detail"));
  const isOpen = (row) => { const detail = detailOf(row); return Boolean(detail && !detail.hidden); };

  function currentRow() {
    const active = document.activeElement;
    const fromFocus = active && active.closest && active.closest("tbody.item-group");
    if (fromFocus) return fromFocus.querySelector("tr.item-row");
    return document.querySelector("tr.item-row.is-current");
  }

  // The row the keys go on from, by id: a decision's answer replaces the row (out of band),
  // also when it sends the form back to be completed, and the new row must stay the current one.
  let currentRowId = null;

  function markCurrent(row) {
    for (const other of document.querySelectorAll("tr.item-row.is-current")) other.classList.remove("is-current");
    row.classList.add("is-current");
    currentRowId = row.id;
  }

  document.addEventListener("htmx:afterSettle", () => {
    const row = currentRowId && document.getElementById(currentRowId);
    if (row && !row.classList.contains("is-current")) markCurrent(row);
  });

  function focusRow(row) {
    if (!row) return;
    markCurrent(row);
    titleOf(row).focus();
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const list = rows();
    if (!list.length) return;
    const at = list.indexOf(currentRow());
    focusRow(at < 0 ? list[step > 0 ? 0 : list.length - 1] : list[at + step]);
  }

  function announce(text) {
    const status = document.querySelector("[data-selected-count]") || document.querySelector(".result-count");
    if (status) status.textContent = text;
  }

  // The rows "n" goes to: undecided, and not someone else's (assigned to a colleague, or
  // delegated away: its assignee's to decide).
  function waitsForMe(row) {
    if (row.classList.contains("is-decided")) return false;
    const queue = document.getElementById("queue");
    const viewer = queue && queue.dataset.viewer;
    return !row.dataset.assignee || !viewer || row.dataset.assignee === viewer;
  }

  function nextUndecided(refreshed = false) {
    const list = rows();
    const at = list.indexOf(currentRow());
    const order = list.slice(at + 1).concat(list.slice(0, at + 1));
    const row = order.find(waitsForMe);
    if (row) {
      focusRow(row);
      if (!isOpen(row)) titleOf(row).click();
      return;
    }
    if (!refreshed && window.htmx && document.getElementById("queue")) {
      // This page is done. Ask for it again before moving on: under a filter the decisions
      // shrink (Undecided, Assignee), the next items have moved up onto this very page (its
      // Next link, made before, skipped them), and its count is stale.
      // On once the new page has settled (htmx wires its links then): a title clicked before
      // would load its item as a page.
      const stop = () => {
        document.removeEventListener("htmx:afterSettle", settled);
        document.removeEventListener("htmx:responseError", stop);
        document.removeEventListener("htmx:sendError", stop);
      };
      const settled = (event) => {
        if (event.target.id !== "queue") return;
        stop();
        nextUndecided(true);
      };
      // A refresh that fails (the session expired, the network) swaps nothing: the listener
      // must not wait for the next filter or page change and open a row then, unasked.
      document.addEventListener("htmx:afterSettle", settled);
      document.addEventListener("htmx:responseError", stop);
      document.addEventListener("htmx:sendError", stop);
      const here = window.location.pathname + window.location.search;
      window.htmx.ajax("GET", here, { target: "#queue", swap: "outerHTML" });
      return;
    }
    const next = document.querySelector('.pagination a[rel="next"]');
    if (next) {
      next.click();
      return;
    }
    const bar = document.querySelector("#cycle-progress progress");
    if (bar && bar.max > 0 && bar.value >= bar.max) {
      announce("Every item of this cycle is decided: it waits for an approver's sign-off.");
      const signOff = document.getElementById("sign-off");
      if (signOff) signOff.scrollIntoView({ block: "start" });
    } else {
      announce("Nothing left for you in this queue: every item is decided, or waits for the person it was delegated to.");
    }
  }

  function openForm() {
    const row = currentRow();
    if (row) return isOpen(row) ? detailOf(row).querySelector("form.decision-form") : null;
    const forms = document.querySelectorAll("form.decision-form");
    return forms.length === 1 ? forms[0] : null;
  }

  function choose(kind) {
    const form = openForm();
    const radio = form && form.querySelector(`input[name="decision"][value="${kind}"]`);
    if (!radio) return;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    const text = form.querySelector("textarea");
    if (text) text.focus();
  }

  function toggleHelp() {
    const help = document.getElementById("keys-help");
    if (!help) return;
    if (help.open) help.close();
    else help.showModal();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.matches && target.matches("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const help = document.getElementById("keys-help");
    if (help && help.open && event.key !== "?") return;
    const onQueue = rows().length > 0;
    const key = event.key;
    if (key === "?") toggleHelp();
    else if (DECISION_KEYS[key]) choose(DECISION_KEYS[key]);
    else if (onQueue && (key === "j" || key === "ArrowDown")) move(1);
    else if (onQueue && (key === "k" || key === "ArrowUp")) move(-1);
    else if (onQueue && key === "n") nextUndecided();
    else if (onQueue && key === "o") { const row = currentRow(); if (row) titleOf(row).click(); }
    else if (onQueue && key === "x") {
      const box = currentRow() && currentRow().querySelector('input[name="items"]');
      if (box) { box.checked = !box.checked; updateSelection(); }
    } else if (!onQueue && "jknq".includes(key) && key.length === 1) {
      const link = document.querySelector(`[data-key="${key}"]`);
      if (link) link.click();
      else return;
    } else return;
    event.preventDefault();
  });

  // A decision recorded from the queue: close its evidence and open the next undecided item.
  document.addEventListener("item-decided", (event) => {
    const row = document.getElementById(`item-${event.detail.id}-row`);
    if (!row) {
      // The item's own page, decided with Ctrl+Enter: on to the next undecided item, as the
      // keys' help says; when none waits, leave the text box so that the next keys are keys
      // again, not typed text.
      if (!advanceAfterDecision) return;
      advanceAfterDecision = false;
      const next = document.querySelector('[data-key="n"]');
      if (next) { next.click(); return; }
      if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
      return;
    }
    advanceAfterDecision = false;
    const detail = detailOf(row);
    if (detail) detail.hidden = true;
    titleOf(row).setAttribute("aria-expanded", "false");
    focusRow(row);
    nextUndecided();
  });
})();
