(function () {
  var canvas = document.createElement("canvas");
  canvas.width = 240; canvas.height = 60;
  var ctx = canvas.getContext("2d");
  ctx.textBaseline = "top"; ctx.font = "14px Arial"; ctx.fillStyle = "#f60";
  ctx.fillRect(125, 1, 62, 20); ctx.fillStyle = "#069";
  ctx.fillText("Cwm fjordbank glyphs vext quiz", 2, 15);
  var print = canvas.toDataURL();
  for (var i = 0; i < 60; i++) { ctx.font = "72px font-" + i + ", monospace"; ctx.measureText("mmmmmmmmmmlli"); }
  window.fingerprintLength = print.length;
})();
