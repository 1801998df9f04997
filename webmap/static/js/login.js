// The login page: post the form as JSON to /api/login, then go where the visitor was headed.
const cfg = JSON.parse(document.getElementById("page-config").textContent);
const M = cfg.messages;
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", function (ev) {
  ev.preventDefault();
  error.hidden = true;
  const body = {
    username: document.getElementById("username").value,
    password: document.getElementById("password").value,
  };
  fetch(cfg.login, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  }).then(function (r) {
    if (r.ok) { window.location.assign(cfg.next); return; }
    error.textContent = r.status === 429 ? M.login_too_many : M.login_failed;
    error.hidden = false;
  }).catch(function () {
    error.textContent = M.error;
    error.hidden = false;
  });
});
