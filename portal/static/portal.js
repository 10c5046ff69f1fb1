// A handheld scanner types the stamp's URI and then Enter. In the first-stamp field, Enter moves on to the
// last-stamp field instead of sending the form half filled.
"use strict";
document.addEventListener("keydown", function (event) {
  var target = event.target;
  if (event.key !== "Enter" || !target || !target.dataset || !target.dataset.next) {
    return;
  }
  var next = document.getElementById(target.dataset.next);
  if (next) {
    event.preventDefault();
    next.focus();
  }
});
