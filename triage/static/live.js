// Live regions: <div data-live="URL" data-live-every="4000" data-live-etag="…" data-live-hold="selector">.
// Every few seconds the region asks URL for its HTML again, sending the ETag of what it shows; the server
// answers 304 when nothing changed and the DOM stays as it is. It waits while the tab is hidden (and
// catches up at once when the tab is shown again), while data-live-hold matches inside it (ticked boxes)
// or while a field inside has focus, and it backs off up to a minute while the server fails.
(function () {
  const MAX_DELAY = 60000;

  function held(region) {
    const hold = region.dataset.liveHold;
    if (hold && region.querySelector(hold)) return true;
    const active = document.activeElement;
    return !!active && region.contains(active) &&
      active.matches("textarea, select, input:not([type=checkbox]):not([type=radio]):not([type=hidden])");
  }

  function live(region) {
    const every = Number(region.dataset.liveEvery) || 4000;
    let etag = region.dataset.liveEtag || null;
    let delay = every, timer = null, busy = false;

    async function refresh() {
      if (busy || document.hidden || held(region)) return true;
      busy = true;
      try {
        const headers = {"X-Requested-With": "fetch"};
        if (etag) headers["If-None-Match"] = etag;
        const r = await fetch(region.dataset.live, {headers, cache: "no-store"});
        if (r.redirected || r.status === 401) { location.reload(); return true; }
        if (r.status === 304) return true;
        if (!r.ok) return false;
        const html = await r.text();
        etag = r.headers.get("ETag");
        region.innerHTML = html;
        if (window.triageKeys) window.triageKeys.reselect();
        return true;
      } catch (e) {
        return false;  // offline for a moment, or the server restarting
      } finally {
        busy = false;
      }
    }

    async function tick() {
      const ok = await refresh();
      delay = ok ? every : Math.min(delay * 2, MAX_DELAY);
      timer = setTimeout(tick, delay);
    }

    document.addEventListener("visibilitychange", () => {
      if (document.hidden || busy) return;
      clearTimeout(timer);
      tick();
    });
    timer = setTimeout(tick, every);
  }

  document.querySelectorAll("[data-live]").forEach(live);
})();
