// Long work (building a packet, sending a fax, reading a fax) takes a second or more: a form with
// data-busy disables its button on submit and says what is happening, so nobody clicks twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.busy) return;
  const button = form.querySelector("button[type=submit], button:not([type])");
  if (!button) return;
  window.setTimeout(() => { button.disabled = true; }, 0);  // after the browser has read the form
  const note = document.createElement("span");
  note.className = "busy-note";
  note.setAttribute("role", "status");
  note.textContent = form.dataset.busy;
  button.after(note);
});
