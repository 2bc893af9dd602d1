/* Disclosure menus (<details class="menu">, the narrow-screen <details class="navmenu">):
   Escape and a click outside close them; Escape gives the focus back to the menu's summary.
   The main menu is open on wide screens (its summary is hidden there) and starts closed on
   touch widths; the breakpoint is the one of oms.css. */
(function () {
  "use strict";
  var narrow = window.matchMedia("(max-width: 900px)");

  function closable(menu) {
    return menu.classList.contains("menu") || narrow.matches;
  }

  function openMenus() {
    return Array.prototype.filter.call(
      document.querySelectorAll("details.menu[open], details.navmenu[open]"), closable);
  }

  function fitNav() {
    var nav = document.querySelector("details.navmenu");
    if (nav) { nav.open = !narrow.matches; }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    openMenus().forEach(function (menu) {
      var hadFocus = menu.contains(document.activeElement);
      menu.open = false;
      if (hadFocus) { menu.querySelector("summary").focus(); }
    });
  });

  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.open = false; }
    });
  });

  // Opening one menu closes the others.
  document.addEventListener("toggle", function (event) {
    var opened = event.target;
    if (!opened.matches || !opened.matches("details.menu, details.navmenu") || !opened.open) { return; }
    openMenus().forEach(function (menu) {
      if (menu !== opened) { menu.open = false; }
    });
  }, true);

  if (narrow.addEventListener) { narrow.addEventListener("change", fitNav); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fitNav);
  } else {
    fitNav();
  }
}());
