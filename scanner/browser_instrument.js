// Injected by scanner/page_behaviour.py before any script of the page runs (in every frame).
// It records calls of fingerprinting APIs and of the hooks session recorders and key loggers
// need, each with the script that made it (read from a stack trace) and the phase of the visit
// ('load' until the scanner starts to interact). Nothing is changed in what the APIs return.
(() => {
  "use strict";
  const KEY = "__childPrivacyScanner";
  if (window[KEY]) return;
  const MAX_RECORDS = 400;
  // Englehardt & Narayanan (2016), "Online tracking: a 1-million-site measurement": a canvas
  // fingerprint is read from a canvas of at least 16x16 holding text of 10 or more distinct
  // characters or in 2 or more colours, never saved/restored or listened to (as games and
  // charts are); a script measuring text in more than 50 fonts is probing installed fonts.
  const FONT_PROBE_COUNT = 50;
  const MIN_CANVAS_SIDE = 16;
  const MIN_DISTINCT_CHARACTERS = 10;
  const state = { phase: "load", canary: null };
  const records = [];
  const seen = new Map();
  const drawn = new WeakMap();       // canvas -> {text, colours} drawn on it
  const animated = new WeakSet();    // canvases saved/restored or listened to: games, charts
  const reported = new WeakMap();    // canvas -> Set of read-back calls already recorded
  const fontsSeen = new Set();       // every font measured, to attribute only new ones
  const fontsMeasured = new Map();   // script -> Set of fonts measured
  const URL_IN_FRAME = /((?:https?|file):\/\/[^\s()]+?):\d+:\d+/;

  function callerScript() {
    // This file carries no http URL (sourceURL below), so the first http frame is the caller.
    const lines = (new Error().stack || "").split("\n").slice(1);
    for (const line of lines) {
      const match = line.match(URL_IN_FRAME);
      if (match) return match[1];
    }
    return null;
  }

  function record(kind, api, detail) {
    const script = callerScript();
    const text = String(detail || "").slice(0, 2000);
    const key = [kind, api, script, state.phase, text].join("\u0000");
    const known = seen.get(key);
    if (known) { known.count += 1; return; }
    if (records.length >= MAX_RECORDS) return;
    const entry = { kind, api, script, detail: text,
                    phase: state.phase, frame: location.href.slice(0, 500), count: 1 };
    seen.set(key, entry);
    records.push(entry);
  }

  function wrap(proto, name, before) {
    if (!proto) return;
    const original = proto[name];
    if (typeof original !== "function") return;
    const wrapped = function (...args) {
      try { before.call(this, args); } catch (e) { /* never break the page */ }
      return original.apply(this, args);
    };
    Object.defineProperty(wrapped, "name", { value: original.name });
    wrapped.toString = original.toString.bind(original);
    proto[name] = wrapped;
  }

  function noteText(text, colour) {
    if (!this || !this.canvas) return;
    const entry = drawn.get(this.canvas) || { text: "", colours: new Set() };
    entry.text = (entry.text + String(text)).slice(0, 120);
    entry.colours.add(String(colour));
    drawn.set(this.canvas, entry);
  }

  function readsFingerprint(canvas, api, type) {
    const entry = canvas && drawn.get(canvas);
    if (!entry || animated.has(canvas)) return;
    if (canvas.width < MIN_CANVAS_SIDE || canvas.height < MIN_CANVAS_SIDE) return;
    if (new Set(entry.text).size < MIN_DISTINCT_CHARACTERS && entry.colours.size < 2) return;
    // A lossy export is how images are resized or uploaded, not how a fingerprint is read.
    if (type && /jpe?g|webp/i.test(String(type))) return;
    const calls = reported.get(canvas) || new Set();
    if (calls.has(api)) return;  // a stack trace per call would slow a page that reads often
    calls.add(api);
    reported.set(canvas, calls);
    record("canvas", api, `${canvas.width}x${canvas.height} canvas with text ${JSON.stringify(entry.text)}`);
  }

  const C2D = window.CanvasRenderingContext2D && CanvasRenderingContext2D.prototype;
  wrap(C2D, "fillText", function (args) { noteText.call(this, args[0], this.fillStyle); });
  wrap(C2D, "strokeText", function (args) { noteText.call(this, args[0], this.strokeStyle); });
  for (const name of ["save", "restore"]) {
    wrap(C2D, name, function () { if (this.canvas) animated.add(this.canvas); });
  }
  wrap(C2D, "getImageData", function (args) {
    if (Math.abs(args[2]) >= MIN_CANVAS_SIDE && Math.abs(args[3]) >= MIN_CANVAS_SIDE) {
      readsFingerprint(this.canvas, "getImageData");
    }
  });
  wrap(C2D, "measureText", function () {
    // Only a font not measured before costs a stack trace: text layout repeats its fonts.
    if (fontsSeen.has(this.font) || fontsSeen.size > 5000) return;
    fontsSeen.add(this.font);
    const script = callerScript() || "";
    const fonts = fontsMeasured.get(script) || new Set();
    fontsMeasured.set(script, fonts);
    if (fonts.size > FONT_PROBE_COUNT) return;
    fonts.add(this.font);
    if (fonts.size > FONT_PROBE_COUNT) {
      record("canvas-font", "measureText", `text measured in more than ${FONT_PROBE_COUNT} fonts`);
    }
  });
  const CANVAS = window.HTMLCanvasElement && HTMLCanvasElement.prototype;
  wrap(CANVAS, "toDataURL", function (args) { readsFingerprint(this, "toDataURL", args[0]); });
  wrap(CANVAS, "toBlob", function (args) { readsFingerprint(this, "toBlob", args[1]); });

  // Audio fingerprinting renders a signal offline and reads it back.
  wrap(window.OfflineAudioContext && OfflineAudioContext.prototype, "startRendering",
       function () { record("audio", "OfflineAudioContext.startRendering", `${this.length} frames`); });
  wrap(window.AnalyserNode && AnalyserNode.prototype, "getFloatFrequencyData",
       function () { record("audio", "AnalyserNode.getFloatFrequencyData", ""); });

  // WebGL: the unmasked vendor and renderer name the graphics hardware.
  const UNMASKED = { 0x9245: "UNMASKED_VENDOR_WEBGL", 0x9246: "UNMASKED_RENDERER_WEBGL" };
  for (const GL of [window.WebGLRenderingContext, window.WebGL2RenderingContext]) {
    wrap(GL && GL.prototype, "getParameter", function (args) {
      if (UNMASKED[args[0]]) record("webgl", "getParameter", UNMASKED[args[0]]);
    });
  }

  // What session recorders and key loggers need: listeners on what the visitor types or does,
  // and an observer of every change to the page.
  const TYPING = new Set(["input", "keydown", "keyup", "keypress", "change", "paste", "beforeinput"]);
  const POINTER = new Set(["mousemove", "pointermove", "scroll", "click", "touchstart"]);
  function describeTarget(target) {
    if (target === window) return "window";
    if (target === document) return "document";
    if (target && target.tagName) {
      const name = target.getAttribute && (target.getAttribute("name") || target.id);
      return target.tagName.toLowerCase() + (name ? `[${name}]` : "");
    }
    return "";
  }
  wrap(window.EventTarget && EventTarget.prototype, "addEventListener", function (args) {
    const type = String(args[0]);
    if (window.HTMLCanvasElement && this instanceof HTMLCanvasElement) animated.add(this);
    if (TYPING.has(type)) {
      const tag = this && this.tagName;
      if (this === window || this === document || tag === "INPUT" || tag === "TEXTAREA"
          || tag === "FORM" || tag === "BODY" || tag === "HTML") {
        record("typing-listener", type, describeTarget(this));
      }
    } else if (POINTER.has(type) && (this === window || this === document)) {
      record("pointer-listener", type, describeTarget(this));
    }
  });
  wrap(window.MutationObserver && MutationObserver.prototype, "observe", function (args) {
    const target = args[0];
    const options = args[1] || {};
    if (options.subtree && (target === document || target === document.documentElement
                            || target === document.body)) {
      record("dom-observer", "MutationObserver.observe", describeTarget(target) + " subtree");
    }
  });

  // Requests scripts send: only those that carry the typed canary or go to the ad endpoints the
  // scanner reports, so that the finding can name the script that sent them.
  const WATCHED = /facebook\.com\/tr\b|\/ads\/ga-audiences|doubleclick\.net|google-analytics\.com\/.*collect/;
  function bodyText(body) {
    if (body === undefined || body === null) return "";
    if (typeof body === "string") return body;
    if (body instanceof URLSearchParams) return body.toString();
    if (window.FormData && body instanceof FormData) {
      const parts = [];
      body.forEach((value, name) => parts.push(name + "=" + value));
      return parts.join("&");
    }
    return "";
  }
  function sent(api, url, body) {
    let text = String(url || "");
    try { text = new URL(text, location.href).href; } catch (e) { /* keep it as given */ }
    const payload = bodyText(body);
    if (state.canary && (text.includes(state.canary) || payload.includes(state.canary))) {
      record("canary-sent", api, text);
    } else if (WATCHED.test(text)) {
      record("beacon", api, text);
    }
  }
  const originalFetch = window.fetch;
  if (typeof originalFetch === "function") {
    window.fetch = function (input, init) {
      try { sent("fetch", input && input.url ? input.url : input, init && init.body); } catch (e) { /* ignore */ }
      return originalFetch.apply(this, arguments);
    };
    window.fetch.toString = originalFetch.toString.bind(originalFetch);
  }
  const XHR = window.XMLHttpRequest && XMLHttpRequest.prototype;
  const xhrUrls = new WeakMap();
  wrap(XHR, "open", function (args) { xhrUrls.set(this, args[1]); });
  wrap(XHR, "send", function (args) { sent("XMLHttpRequest", xhrUrls.get(this), args[0]); });
  wrap(window.Navigator && Navigator.prototype, "sendBeacon",
       function (args) { sent("sendBeacon", args[0], args[1]); });
  wrap(window.WebSocket && WebSocket.prototype, "send", function (args) { sent("WebSocket", this.url, args[0]); });
  const imageSrc = window.HTMLImageElement
    && Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  if (imageSrc && imageSrc.set) {
    Object.defineProperty(HTMLImageElement.prototype, "src", {
      configurable: true, enumerable: imageSrc.enumerable, get: imageSrc.get,
      set(value) {
        try { sent("Image.src", value); } catch (e) { /* ignore */ }
        return imageSrc.set.call(this, value);
      },
    });
  }

  Object.defineProperty(window, KEY, {
    enumerable: false,
    value: Object.freeze({
      setPhase(phase) { state.phase = String(phase); },
      setCanary(canary) { state.canary = String(canary); },
      take() { return records.slice(); },
    }),
  });
})();
//# sourceURL=child-privacy-scanner-instrument.js
