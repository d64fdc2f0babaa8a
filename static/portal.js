// Account Portal's only script: send the CSRF token with every htmx request.
// The token is read from the page each time, so a page that rotated it (sign-in) is honoured.
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRFToken"] = meta.content;
});
