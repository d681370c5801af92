(function () {
  // Google signals on: the hit is copied to DoubleClick for remarketing audiences.
  navigator.sendBeacon("https://stats.g.double" + "click.net/g/collect?v=2&tid=G-KIDS123&cid=1.2&aip=1");
  new Image().src = "https://www.google-" + "analytics.com/g/collect?v=2&tid=G-KIDS123&en=page_view";
})();
