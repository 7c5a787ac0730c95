// The portal's only script: the Menu button (the sidebar stays as the learner left it, page to page), file-chooser
// buttons, auto-submitting uploads, the copy button. Every page also works without it (forms and <noscript>).
document.addEventListener("DOMContentLoaded", () => {
  const menu = document.querySelector("[data-menu]");
  const setOpen = (open) => {
    document.body.classList.toggle("nav-open", open);
    if (menu) menu.setAttribute("aria-expanded", String(open));
    // the server reads it to draw the next page's sidebar the same way (no flicker)
    document.cookie = `sphere_harness_sidebar=${open ? "open" : "closed"}; path=/; SameSite=Lax; Secure`;
  };
  if (menu) menu.addEventListener("click", () => setOpen(!document.body.classList.contains("nav-open")));
  // the gear of a collapsed sidebar (Administration) expands the sidebar too, so Device Connection shows
  document.querySelectorAll("nav.side summary").forEach((summary) => {
    summary.addEventListener("click", (event) => {
      if (document.body.classList.contains("nav-open")) return;
      event.preventDefault();
      summary.parentElement.open = true;
      setOpen(true);
    });
  });
  document.querySelectorAll("[data-choose]").forEach((button) => {
    button.addEventListener("click", () => document.getElementById(button.dataset.choose).click());
  });
  document.querySelectorAll("input[type=file][data-autosubmit]").forEach((input) => {
    input.addEventListener("change", () => { if (input.files.length) input.form.submit(); });
  });
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      const said = document.getElementById(button.dataset.copy + "-copied");
      field.select();
      try { await navigator.clipboard.writeText(field.value); } catch (e) { document.execCommand("copy"); }
      if (said) said.textContent = "Copied";
    });
  });
});
