// The desk's small enhancements, as a module (the CSP allows no inline script): photos open in
// a dialog (Esc closes it; without JavaScript the link opens the file), and irreversible actions
// ask for confirmation. Everything works without this file.
const viewer = document.getElementById("viewer");

document.addEventListener("click", (event) => {
  const thumb = event.target.closest("a.thumb");
  if (thumb && viewer && typeof viewer.showModal === "function") {
    event.preventDefault();
    viewer.querySelector("img").src = thumb.dataset.full;
    viewer.querySelector("img").alt = thumb.dataset.caption;
    viewer.querySelector("figcaption").textContent = thumb.dataset.caption;
    viewer.querySelector("#viewer-open").href = thumb.dataset.full;
    viewer.showModal();
    viewer.querySelector("#viewer-close").focus();
  }
  if (event.target.id === "viewer-close") viewer.close();
});

document.addEventListener("submit", (event) => {
  const button = event.submitter || event.target.querySelector("button[data-confirm]");
  const question = button && button.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
