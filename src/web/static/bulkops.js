// bulkops serve: the live parts of a page. An element with `data-live` is
// replaced every `data-every` milliseconds by the HTML its URL answers, until
// the answer carries `data-final` (the run ended) or the run is gone. Nothing
// else runs on the page.
"use strict";

function refresh(element) {
  const url = element.getAttribute("data-live");
  const every = Number(element.getAttribute("data-every") || "1000");
  if (element.hasAttribute("data-final")) {
    return;
  }
  setTimeout(async () => {
    try {
      const answer = await fetch(url, { credentials: "same-origin" });
      if (answer.status === 404) {
        return; // the run is gone: nothing more will change
      }
      if (answer.ok) {
        const holder = document.createElement("div");
        holder.innerHTML = await answer.text();
        const next = holder.firstElementChild;
        if (next) {
          element.replaceWith(next);
          refresh(next);
          return;
        }
      }
    } catch (error) {
      // The server is gone or busy: try again at the next tick.
    }
    refresh(element);
  }, every);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(refresh);
});
