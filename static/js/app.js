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

  // Confirm destructive actions marked with data-confirm, on the form or on the button that
  // sent it.
  document.body.addEventListener("submit", (event) => {
    const message =
      (event.submitter && event.submitter.dataset.confirm) || event.target.dataset.confirm;
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

// Relative times ("Failed 7 seconds ago") stay true while the page stays open, without asking
// the server again: each <time data-relative> is counted again every few seconds, in Django's
// naturaltime words, from the server's clock (data-now on the block that holds it) rather than
// this computer's, which may be off.
(() => {
  const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  const UNITS = ["year", "month", "week", "day", "hour", "minute"];
  const CHUNKS = [7 * 86400, 86400, 3600, 60]; // week, day, hour, minute, in seconds
  const offsets = new WeakMap(); // block with data-now -> server clock minus this one, in ms
  const parse = (text) => Date.parse(text.replace(/(\.\d{3})\d+/, "$1")); // microseconds

  // django.utils.timesince.timesince: calendar years and months, then weeks to minutes; the
  // first two units that are not zero, in UTC (naturaltime does not localize).
  function timeSince(from, to) {
    const a = new Date(from);
    const b = new Date(to);
    const timeOfDay = (d) => d.getTime() - Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    let months = (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + (b.getUTCMonth() - a.getUTCMonth());
    if (a.getUTCDate() > b.getUTCDate() || (a.getUTCDate() === b.getUTCDate() && timeOfDay(a) > timeOfDay(b))) months -= 1;
    const years = Math.floor(months / 12);
    months %= 12;
    let pivot = from;
    if (years || months) {
      let month = a.getUTCMonth() + months; // 0-based
      const year = a.getUTCFullYear() + years + (month > 11 ? 1 : 0);
      month %= 12;
      const day = Math.min(MONTH_DAYS[month], a.getUTCDate());
      pivot = Date.UTC(year, month, day, a.getUTCHours(), a.getUTCMinutes(), a.getUTCSeconds());
    }
    let remaining = (to - pivot) / 1000;
    const counts = [years, months];
    for (const chunk of CHUNKS) {
      const count = Math.floor(remaining / chunk);
      counts.push(count);
      remaining -= chunk * count;
    }
    let i = counts.findIndex((count) => count !== 0);
    if (i < 0) return "0\u00a0minutes";
    const parts = [];
    for (; i < UNITS.length && parts.length < 2 && counts[i] !== 0; i++) {
      parts.push(`${counts[i]}\u00a0${UNITS[i]}${counts[i] === 1 ? "" : "s"}`);
    }
    return parts.join(", ");
  }

  // django.contrib.humanize's naturaltime.
  function naturalTime(value, now) {
    const past = value < now;
    const suffix = past ? "ago" : "from now";
    const total = Math.floor(Math.abs(now - value) / 1000);
    if (total >= 86400) return `${past ? timeSince(value, now) : timeSince(now, value)} ${suffix}`;
    if (total === 0) return "now";
    if (total < 60) return total === 1 ? `a second ${suffix}` : `${total}\u00a0seconds ${suffix}`;
    const minutes = Math.floor(total / 60);
    if (minutes < 60) return minutes === 1 ? `a minute ${suffix}` : `${minutes}\u00a0minutes ${suffix}`;
    const hours = Math.floor(minutes / 60);
    return hours === 1 ? `an hour ${suffix}` : `${hours}\u00a0hours ${suffix}`;
  }

  // When a block arrives (the page, or htmx swapping it in), how far the server's clock is.
  function measure() {
    for (const block of document.querySelectorAll("[data-now]")) {
      if (!offsets.has(block)) offsets.set(block, parse(block.dataset.now) - Date.now());
    }
  }

  function refresh() {
    for (const time of document.querySelectorAll("[data-now] time[data-relative][datetime]")) {
      const value = parse(time.getAttribute("datetime"));
      const offset = offsets.get(time.closest("[data-now]"));
      if (Number.isNaN(value) || offset === undefined || Number.isNaN(offset)) continue;
      const text = naturalTime(value, Date.now() + offset);
      if (time.textContent !== text) time.textContent = text;
    }
  }

  let timer = null;
  function start() {
    measure();
    if (timer === null && document.querySelector("[data-now] time[data-relative]")) {
      timer = window.setInterval(refresh, 10000);
    }
  }
  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", start);
})();
