(function () {
  // WebGL at load; audio only once the visitor starts typing.
  var gl = document.createElement("canvas").getContext("webgl");
  if (gl) { gl.getParameter(0x9246); }
  var done = false;
  document.querySelector("input").addEventListener("keydown", function () {
    if (done) return;
    done = true;
    var audio = new OfflineAudioContext(1, 5000, 44100);
    var oscillator = audio.createOscillator();
    var compressor = audio.createDynamicsCompressor();
    oscillator.connect(compressor); compressor.connect(audio.destination);
    oscillator.start(0);
    audio.startRendering();
  });
})();
