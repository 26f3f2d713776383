// Keyboard shortcuts, in the spirit of Zammad and Gmail: j/k move, o open, c claim, r reply,
// e escalate, x resolve, n next, ? help. Nothing fires while you type in a field.
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
  let selectedId = sessionStorage.getItem("triage.selected");
  let pendingG = false;

  function rows() { return Array.from(document.querySelectorAll("[data-mention][data-href]")); }

  function select(row, scroll) {
    rows().forEach(r => r.classList.toggle("selected", r === row));
    if (!row) return;
    selectedId = row.dataset.mention;
    sessionStorage.setItem("triage.selected", selectedId);
    if (scroll) row.scrollIntoView({block: "nearest"});
  }

  function selected() { return rows().find(r => r.dataset.mention === selectedId); }

  function post(url) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = url;
    form.innerHTML = `<input type="hidden" name="csrf_token" value="${csrf}">` +
      `<input type="hidden" name="next" value="${location.pathname + location.search}">`;
    document.body.appendChild(form);
    form.submit();
  }

  function byKey(key) { return document.querySelector(`[data-key="${key}"]`); }

  function trigger(el) {
    if (!el) return false;
    if (el.matches("textarea, input, select")) { el.focus(); el.scrollIntoView({block: "center"}); }
    else el.click();
    return true;
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t.closest && t.closest("input, textarea, select, [contenteditable]")) {
      if (ev.key === "Escape") t.blur();
      return;
    }
    const help = document.getElementById("shortcuts");
    if (ev.key === "?") { help.open ? help.close() : help.showModal(); ev.preventDefault(); return; }
    if (pendingG) {
      pendingG = false;
      if (ev.key === "w") location.href = "/work";
      if (ev.key === "q") location.href = "/queues";
      return;
    }
    if (ev.key === "g") { pendingG = true; return; }
    const list = rows();
    const current = selected();
    const index = current ? list.indexOf(current) : -1;
    switch (ev.key) {
      case "j": select(list[Math.min(index + 1, list.length - 1)], true); break;
      case "k": select(list[Math.max(index - 1, 0)], true); break;
      case "o": case "Enter":
        if (current) location.href = current.dataset.href; else return;
        break;
      case "c":
        if (!trigger(byKey("c"))) { if (current) post(current.dataset.href + "/claim"); else return; }
        break;
      case "x":
        if (!trigger(byKey("x"))) { if (current) post(current.dataset.href + "/resolve"); else return; }
        break;
      case "r":
        if (!trigger(byKey("r"))) { if (current) location.href = current.dataset.href + "#reply"; else return; }
        break;
      case "e":
        if (!trigger(byKey("e"))) { if (current) location.href = current.dataset.href + "#escalate"; else return; }
        break;
      case "n": if (!trigger(byKey("n"))) return; break;
      default: return;
    }
    ev.preventDefault();
  });

  document.querySelectorAll("[data-show-help]").forEach(b =>
    b.addEventListener("click", () => document.getElementById("shortcuts").showModal()));

  // Live regions re-render rows: keep the selection on the same item.
  window.triageKeys = { reselect() { const r = selected(); if (r) r.classList.add("selected"); } };
  window.triageKeys.reselect();
  // Arriving with #reply or #escalate focuses that form.
  const target = location.hash && document.querySelector(location.hash + " textarea, " + location.hash + " select");
  if (target) target.focus();
})();
