// Castellan admin console: progressive enhancement for the dynamic group rule editor
// (console/dynamic.rs). Served from the binary at /admin/assets/console.js and allowed only on
// the rule editor pages (their CSP adds script-src 'self' and connect-src 'self'; never
// 'unsafe-inline'). Without it the page works the same through "Validate and preview"; with it
// the preview is asked for as you type: the form is posted as a preview (nothing is saved) and
// the server's own rendering of the outcome replaces the old one.
(() => {
  const form = document.getElementById("rule-editor");
  const rule = document.getElementById("re-membershipRule");
  const outcome = document.getElementById("rule-outcome");
  if (!form || !rule || !outcome || !window.fetch || !window.DOMParser) return;
  let timer = null;
  let seq = 0;
  async function preview() {
    const n = ++seq;
    const body = new URLSearchParams(new FormData(form));
    body.set("intent", "preview");
    let html;
    try {
      const r = await fetch(form.action, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-Castellan-Live": "1" },
      });
      html = await r.text();
    } catch {
      return;
    }
    if (n !== seq) return;
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("rule-outcome");
    if (!fresh) return;
    outcome.replaceChildren(...Array.from(fresh.childNodes, (c) => document.importNode(c, true)));
    if (outcome.querySelector("#rule-error")) rule.setAttribute("aria-invalid", "true");
    else rule.removeAttribute("aria-invalid");
  }
  rule.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(preview, 500);
  });
})();
