// Small DOM helpers: escaping, lookup, the status line.

export function esc(v) {
  return String(v).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}

export function el(id) { return document.getElementById(id); }

export function showStatus(text) {
  const s = el("status");
  if (!text) { s.hidden = true; return; }
  s.textContent = text;
  s.hidden = false;
}
