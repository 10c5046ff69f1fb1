// The camera: BarcodeDetector where the browser has it, else the bundled jsQR (vendor/README.md).

let jsQRLoading = null;

function loadJsQR() {
  if (globalThis.jsQR) return Promise.resolve(globalThis.jsQR);
  if (!jsQRLoading) {
    jsQRLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/inspect/assets/vendor/jsqr/jsQR.js";
      script.onload = () => resolve(globalThis.jsQR);
      script.onerror = () => reject(new Error("the QR decoder could not be loaded"));
      document.head.append(script);
    });
  }
  return jsQRLoading;
}

/** Decode a QR code from ImageData with the bundled decoder; returns its text or null. */
export async function decodeImageData(imageData) {
  const jsQR = await loadJsQR();
  const found = jsQR(imageData.data, imageData.width, imageData.height, { inversionAttempts: "attemptBoth" });
  return found ? found.data : null;
}

async function nativeDetector() {
  if (!("BarcodeDetector" in globalThis)) return null;
  try {
    const formats = await globalThis.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new globalThis.BarcodeDetector({ formats: ["qr_code"] }) : null;
  } catch {
    return null;
  }
}

/**
 * Start the camera in `video` and call onCode(text) with the first QR code read. Returns stop().
 * Throws if there is no camera or the person refuses it.
 */
export async function startCamera(video, canvas, onCode) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("this browser cannot use the camera here (it needs https)");
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: { ideal: "environment" } },
    audio: false,
  });
  video.srcObject = stream;
  await video.play();
  const detector = await nativeDetector();
  let stopped = false;
  const stop = () => {
    stopped = true;
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const tick = async () => {
    if (stopped) return;
    try {
      let text = null;
      if (video.readyState >= 2) {
        if (detector) {
          const codes = await detector.detect(video);
          text = codes.length ? codes[0].rawValue : null;
        } else {
          const width = Math.min(video.videoWidth, 800);
          const height = Math.round((video.videoHeight * width) / video.videoWidth) || 0;
          if (width && height) {
            canvas.width = width;
            canvas.height = height;
            context.drawImage(video, 0, 0, width, height);
            text = await decodeImageData(context.getImageData(0, 0, width, height));
          }
        }
      }
      if (text && !stopped) {
        stop();
        onCode(text);
        return;
      }
    } catch {
      // a frame that cannot be read is skipped
    }
    setTimeout(tick, 150);
  };
  tick();
  return stop;
}

export async function decoderName() {
  return (await nativeDetector()) ? "BarcodeDetector" : "jsQR";
}
