#!/usr/bin/env bash
# zoo_lift.sh MODELS_DIR [NAME...]: runs lmpseg's whole pipeline with the model's own decoder lifted
# and fine-tuned (train --trainable-from) on torchvision's six segmentation models, as scripts/zoo.py
# --big exports them into MODELS_DIR, and writes the "trainable-from" column and section of
# docs/models.md (through zoo.sh's table step).
#
# Per model (default: the six *_opset17_dyn files; scripts/zoo.py MODELS_DIR --heads exports them),
# with T the decoder input (scripts/zoo_lift.py from: what the classifier reads; LR-ASPP's decoder
# also reads a low-level feature, which lmpseg finds itself):
#   1. train --trainable-from T on the 12-class synthetic set (--iters $ITERS --crop 256x256 --batch 2
#      --threads 2; a new classifier, since the model has 21 classes) -> eval --run -> export ->
#      eval --model (the two mIoUs must be equal) -> predict;
#   2. train --trainable-from T --iters 0 on the same images with 21 classes (the model's own:
#      classifier kept) -> export -> TestZooParity (lift/zoo_test.go: the exported model against the
#      original on the val images, scores within 1e-4 of their scale, argmax on >= 99.99% of the
#      pixels) -> predict with both models and compare the masks (zoo_lift.py masks).
# The ResNet-101 models train with --clip 1: with random weights their backbone features reach about
# 1e4 (ResNet-50's: about 16), and plain SGD on them diverges within three iterations even at
# --lr 1e-4 ("non-finite values in head logits"). Each step is bounded by `timeout $STEP_TIMEOUT`; a failing step marks the rest of its part
# "skipped". Results go to $WORK/lift-results (one TSV per model, the format of zoo.sh's).
#
# Environment: WORK (default /tmp/zoo), LMPSEG (default: built from the tree into $WORK/lmpseg),
# PY (default /usr/bin/python3), ITERS (default 10), NOBUILD=1 to keep the binary, NOTABLE=1 not to
# rewrite docs/models.md.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
models=${1:?usage: zoo_lift.sh MODELS_DIR [NAME...]}
shift
models=$(cd "$models" && pwd)
WORK=${WORK:-/tmp/zoo}
PY=${PY:-/usr/bin/python3}
LMPSEG=${LMPSEG:-$WORK/lmpseg}
ITERS=${ITERS:-10}
STEP_TIMEOUT=${STEP_TIMEOUT:-900}
res_dir=$WORK/lift-results
mkdir -p "$res_dir" "$WORK/lruns" "$WORK/llogs"
ort=$here/third_party/onnxruntime/lib/libonnxruntime.so.1.24.1
[ -z "${ONNXRUNTIME_LIB:-}" ] && [ -f "$ort" ] && export ONNXRUNTIME_LIB=$ort

if [ "${NOBUILD:-}" != 1 ]; then
	commit=$(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
	dirty=$(cd "$here" && git status --porcelain -- '*.go' 2>/dev/null | grep -q . && echo "+uncommitted" || true)
	(cd "$here" && go build -o "$WORK/lmpseg" .) || { echo "zoo_lift.sh: go build failed" >&2; exit 1; }
	LMPSEG=$WORK/lmpseg
	echo "$commit$dirty" >"$WORK/lmpseg.commit"
fi
commit=$(cat "$LMPSEG.commit" 2>/dev/null || echo unknown)

# The 12-class synthetic set of zoo.sh, and the same images with 21 class names (torchvision's
# VOC classes: the models' own count; the labels use 0..11 of them).
ds=$WORK/ds
if [ ! -f "$ds/val/classes.txt" ]; then
	"$LMPSEG" synth --out "$ds" --train 8 --val 4 --size 256x512 || exit 1
fi
ds21=$WORK/ds21
if [ ! -f "$ds21/val/classes.txt" ]; then
	rm -rf "$ds21" && cp -r "$ds" "$ds21" || exit 1
	for s in train val; do
		printf '%s\n' background aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog \
			horse motorbike person pottedplant sheep sofa train tvmonitor >"$ds21/$s/classes.txt"
	done
fi

if [ $# -gt 0 ]; then
	names=("$@")
else
	names=(fcn_resnet50_opset17_dyn fcn_resnet101_opset17_dyn deeplabv3_resnet50_opset17_dyn
		deeplabv3_resnet101_opset17_dyn deeplabv3_mobilenet_v3_large_opset17_dyn lraspp_mobilenet_v3_large_opset17_dyn)
fi

# shellcheck source=zoo_lib.sh
. "$here/scripts/zoo_lib.sh"

# note ID MODEL KEY VALUE: a measured figure for the table.
note() { printf '%s\t%s\t%s\t%s\t\t\t\n' "$1" "$2" "$3" "$4" >>"$res"; }

miou() { "$PY" -c 'import json,sys; print("%.2f" % (100*json.load(open(sys.argv[1]))["metrics"]["mIoU"]))' "$1" 2>/dev/null; }

for name in "${names[@]}"; do
	m=$models/$name.onnx
	[ -f "$m" ] || { echo "zoo_lift.sh: $m is missing (scripts/zoo.py $models --big)" >&2; continue; }
	safe=${name//[^A-Za-z0-9_.-]/_}
	res=$res_dir/$safe.tsv run=$WORK/lruns/$safe run0=$WORK/lruns/${safe}_iters0 logd=$WORK/llogs/$safe
	rm -rf "$run" "$run0" "$logd"
	mkdir -p "$logd"
	printf '%s\t%s\tcommit\t%s\t\t\t\n' "$name" "$name" "$commit" >"$res"
	failed=""
	if ! from=$("$PY" "$here/scripts/zoo_lift.py" from "$m" 2>"$logd/from.err" | head -n1) || [ -z "$from" ]; then
		printf '%s\t%s\tfrom\tfail\t\t%s\tscripts/zoo_lift.py from %s\n' "$name" "$name" "$(first_error "$logd/from.err")" "$m" >>"$res"
		continue
	fi
	note "$name" "$name" from "$from"
	common=(--backbone "$m" --trainable-from "$from" --crop 256x256 --batch 2 --threads 2 --quiet)
	extra=()
	case $name in *resnet101*) extra=(--clip 1) ;; esac
	[ ${#extra[@]} -gt 0 ] && note "$name" "$name" extra "${extra[*]}"

	# 1. fine-tune on the 12-class set, the whole pipeline
	step "$name" "$name" train "$logd" "$LMPSEG" train "${common[@]}" --data "$ds/train" --val-data "$ds/val" \
		--out "$run" --iters "$ITERS" "${extra[@]+"${extra[@]}"}"
	step "$name" "$name" eval-run "$logd" "$LMPSEG" eval --run "$run" --data "$ds/val" --threads 2 --json "$run/eval-run.json" &&
		note "$name" "$name" miou-eval-run "$(miou "$run/eval-run.json")"
	step "$name" "$name" export "$logd" "$LMPSEG" export --run "$run" --out "$run/model.onnx" --threads 2 &&
		note "$name" "$name" export-parity "$(grep -o 'parity check.*' "$logd/export.out" | head -n1)"
	step "$name" "$name" eval-model "$logd" "$LMPSEG" eval --model "$run/model.onnx" --data "$ds/val" --threads 2 --json "$run/eval-model.json" &&
		note "$name" "$name" miou-eval-model "$(miou "$run/eval-model.json")"
	if [ -z "$failed" ]; then
		a=$(miou "$run/eval-run.json") b=$(miou "$run/eval-model.json")
		if [ -z "$a" ] || [ "$a" != "$b" ]; then
			printf '%s\t%s\tagree\tfail\t\teval --run mIoU %s, eval --model %s\t\n' "$name" "$name" "$a" "$b" >>"$res"
			failed=1
		fi
	fi
	step "$name" "$name" predict "$logd" "$LMPSEG" predict --model "$run/model.onnx" --out "$run/pred" --threads 2 "$ds/val/images"

	# 2. --iters 0 with the model's 21 classes: the export must reproduce the original model
	failed=""
	step "$name" "$name" train0 "$logd" "$LMPSEG" train "${common[@]}" --data "$ds21/train" --out "$run0" --iters 0
	step "$name" "$name" export0 "$logd" "$LMPSEG" export --run "$run0" --out "$run0/model.onnx" --threads 2 &&
		note "$name" "$name" export0-parity "$(grep -o 'parity check.*' "$logd/export0.out" | head -n1)"
	if step "$name" "$name" parity "$logd" env LMPSEG_ZOO_PARITY="$m=$run0/model.onnx" LMPSEG_ZOO_PARITY_IMAGES="$ds/val/images" \
		go -C "$here" test -count=1 -run 'TestZooParity$' -v ./lift/; then
		note "$name" "$name" parity-figures "$(grep -o 'max score difference.*' "$logd/parity.out" | head -n1)"
	fi
	failed=""
	step "$name" "$name" predict-orig "$logd" "$LMPSEG" predict --model "$m" --out "$run0/pred-orig" --threads 2 "$ds/val/images"
	step "$name" "$name" predict0 "$logd" "$LMPSEG" predict --model "$run0/model.onnx" --out "$run0/pred" --threads 2 "$ds/val/images"
	if [ -z "$failed" ]; then
		if agree=$("$PY" "$here/scripts/zoo_lift.py" masks "$run0/pred-orig" "$run0/pred" 2>"$logd/masks.err"); then
			read -r same total pct <<<"$agree"
			st=pass
			awk -v p="$pct" 'BEGIN{exit !(p >= 99.99)}' || st=fail
			printf '%s\t%s\tmasks\t%s\t\t%s of %s pixels (%s%%)\t%s\n' "$name" "$name" "$st" "$same" "$total" "$pct" \
				"scripts/zoo_lift.py masks $run0/pred-orig $run0/pred" >>"$res"
		else
			printf '%s\t%s\tmasks\tfail\t\t%s\t\n' "$name" "$name" "$(first_error "$logd/masks.err")" >>"$res"
		fi
	fi
done

if [ "${NOTABLE:-}" != 1 ]; then
	TABLE_ONLY=1 NOBUILD=1 LMPSEG=$LMPSEG WORK=$WORK bash "$here/scripts/zoo.sh" "$models"
fi
