// Small behaviours the pages need with JavaScript on; every page works without them.
(function () {
  "use strict";

  function alertRegion() {
    return document.getElementById("htmx-alerts");
  }

  function showAlert(text) {
    var region = alertRegion();
    if (!region) return;
    var box = document.createElement("div");
    box.className = "message message-error";
    box.setAttribute("role", "alert");
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(p);
    region.replaceChildren(box);
  }

  // A request that never reached the server must not look like a silent success.
  document.addEventListener("htmx:sendError", function () {
    showAlert(document.documentElement.lang === "ar"
      ? "تعذّر الاتصال بالخادم. تحقّق من الاتصال ثم أعد المحاولة؛ لم يُحفظ شيء."
      : "Le serveur n'a pas pu être joint. Vérifiez la connexion et réessayez ; rien n'a été enregistré.");
  });

  // A swap that removes the focused control (a row's "Remove" button, a form replaced by its
  // answer) drops the focus to the top of the page, and a keyboard or screen-reader user must
  // find their place again. Keep it in the part that changed: on its message when it has one,
  // else on the part itself. A swap that kept a focused control (htmx restores it by id, or an
  // autofocus in the new content) is left alone.
  document.addEventListener("htmx:afterSettle", function (event) {
    var active = document.activeElement;
    if (active && active !== document.body && active !== document.documentElement) return;
    var target = event.detail.target;
    if (target && !target.isConnected && target.id) target = document.getElementById(target.id);
    if (!target || !target.isConnected) return;
    var landing = target.querySelector(".messages, .message") || target;
    if (!landing.hasAttribute("tabindex")) landing.setAttribute("tabindex", "-1");
    landing.focus();
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-reload]");
    if (link) {
      event.preventDefault();
      window.location.reload();
    }
  });
})();

// Live word count for narrative fields; the server enforces the same limit.
(function () {
  "use strict";
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.matches || !field.matches("textarea[data-word-limit]")) return;
    var counter = document.getElementById(field.id + "-count");
    if (!counter) return;
    var words = field.value.trim() ? field.value.trim().split(/\s+/).length : 0;
    var limit = parseInt(field.dataset.wordLimit, 10);
    var template = counter.dataset.template || counter.textContent;
    counter.dataset.template = template;
    counter.textContent = template.replace(/\d+/, String(words));
    counter.classList.toggle("over", words > limit);
  });
})();

// On a slow connection people type before the scripts arrive; those changes fired no event
// htmx could hear, so once it is ready every autosave field that differs from what the server
// sent is announced as changed and saved like any other edit.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  document.querySelectorAll(".autosave input, .autosave textarea").forEach(function (field) {
    if (["hidden", "checkbox", "radio", "file", "submit"].indexOf(field.type) !== -1) return;
    if (field.value !== field.defaultValue) {
      field.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });
});
