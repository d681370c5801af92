(function () {
  // How fbevents.js reports an event: an image request to facebook.com/tr with ev=.
  var host = "https://www.face" + "book.com/tr";
  new Image().src = host + "?id=987654321&ev=PageView&dl=" + encodeURIComponent(location.href) + "&noscript=1";
  setTimeout(function () { new Image().src = host + "?id=987654321&ev=ViewContent&cd[content_name]=toys"; }, 100);
  // Larger events are posted: the event name travels in the body.
  var form = new FormData();
  form.append("id", "987654321"); form.append("ev", "AddToCart"); form.append("cd[value]", "4.99");
  navigator.sendBeacon(host + "/", form);
})();
