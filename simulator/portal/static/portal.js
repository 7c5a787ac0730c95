// The portal's only script: the Menu button, file-chooser buttons, auto-submitting uploads, the copy button.
document.addEventListener("DOMContentLoaded", () => {
  const menu = document.querySelector("[data-menu]");
  if (menu) {
    menu.addEventListener("click", () => {
      const open = document.body.classList.toggle("nav-open");
      menu.setAttribute("aria-expanded", String(open));
    });
  }
  document.querySelectorAll("[data-choose]").forEach((button) => {
    button.addEventListener("click", () => document.getElementById(button.dataset.choose).click());
  });
  document.querySelectorAll("input[type=file][data-autosubmit]").forEach((input) => {
    input.addEventListener("change", () => { if (input.files.length) input.form.submit(); });
  });
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      field.select();
      try { await navigator.clipboard.writeText(field.value); } catch (e) { document.execCommand("copy"); }
      button.textContent = "Copied";
    });
  });
});
