(function () {
  // How fbevents.js reports an event: an image request to facebook.com/tr with ev=.
  var host = "https://www.face" + "book.com/tr";
  new Image().src = host + "?id=987654321&ev=PageView&dl=" + encodeURIComponent(location.href) + "&noscript=1";
  setTimeout(function () { new Image().src = host + "?id=987654321&ev=ViewContent&cd[content_name]=toys"; }, 100);
})();
