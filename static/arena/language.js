// The language picker in every page's header (arena/base.html) works as a plain form; with this script it
// submits as soon as a language is picked, and its button is no longer needed.
const form = document.getElementById("language-picker");
if (form) {
  const select = form.querySelector("select");
  const button = form.querySelector('button[type="submit"]');
  if (button) button.hidden = true;
  select.addEventListener("change", () => form.requestSubmit());
}
