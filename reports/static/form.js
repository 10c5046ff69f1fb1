// The "Report a fake" form (templates/pages/report_form.html). The form works without this script; with it, a
// photo over the size limit is caught before it is sent, and the phone's position is added when the person
// ticks the box and agrees to share it. Served from /reports/form.js: no inline script.
(function () {
  "use strict";
  var form = document.querySelector("form.report");
  if (!form) {
    return;
  }
  var photo = form.querySelector('input[name="photo"]');
  var photoStatus = form.querySelector(".photo-status");
  var limit = Number(form.dataset.maxBytes);

  function photoTooLarge() {
    return photo && photo.files && photo.files.length > 0 && photo.files[0].size > limit;
  }

  function showPhotoStatus() {
    var tooLarge = photoTooLarge();
    photoStatus.hidden = !tooLarge;
    photoStatus.textContent = tooLarge ? form.dataset.tooLarge : "";
    return tooLarge;
  }

  if (photo && photoStatus) {
    photo.addEventListener("change", showPhotoStatus);
    form.addEventListener("submit", function (event) {
      if (showPhotoStatus()) {
        event.preventDefault();
      }
    });
  }

  var box = form.querySelector(".position");
  if (!box || !navigator.geolocation) {
    return;
  }
  var check = box.querySelector('input[type="checkbox"]');
  var status = box.querySelector(".position-status");
  var latitude = form.querySelector('input[name="latitude"]');
  var longitude = form.querySelector('input[name="longitude"]');
  var accuracy = form.querySelector('input[name="accuracy_m"]');
  box.hidden = false;

  function clearPosition() {
    latitude.value = "";
    longitude.value = "";
    accuracy.value = "";
  }

  check.addEventListener("change", function () {
    clearPosition();
    status.textContent = "";
    if (!check.checked) {
      return;
    }
    navigator.geolocation.getCurrentPosition(
      function (position) {
        if (!check.checked) {
          return;
        }
        latitude.value = String(position.coords.latitude);
        longitude.value = String(position.coords.longitude);
        accuracy.value = String(position.coords.accuracy);
        status.textContent = form.dataset.positionAdded;
      },
      function () {
        check.checked = false;
        status.textContent = form.dataset.positionFailed;
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  });
})();
