#!/usr/bin/env bash
# zoo.sh MODELS_DIR [NAME...]: runs lmpseg's whole pipeline on models we did not make (scripts/zoo.py
# exports them into MODELS_DIR) and writes docs/models.md, a model x step table.
#
# Per row: inspect --probe 256x256 -> train (--iters 10 --crop 256x256 --batch 2 --threads 2) ->
# eval --run -> export -> eval --model -> predict. Each step is bounded by `timeout 600`; a failing
# step marks the rest of its row "skipped". Rows are the models with their default --feature (the
# first output) and, for backbones and classifiers (and the models in $ALSO_INTERMEDIATE), one more
# row on an intermediate tensor picked from inspect's candidate list ("NAME @ TENSOR"), and one on a
# channels-last candidate where inspect lists one ("NAME @ TENSOR (NHWC)").
# A fixed-size model gets one more row probed at its own size and trained without --crop.
# The uint8 model gets one more row with the preprocessing it wants (--range 0-255 --mean 0,0,0
# --std 1,1,1, "raw"). The models in $ALSO_NOVAL (fixed-size) also get a row trained without
# --val-data, to reach the steps after train.
#
# With NAME... only those models run again; the results of the others (kept in $WORK/results) stay in
# the table. Environment: WORK (default /tmp/zoo), LMPSEG (default: built from the tree into
# $WORK/lmpseg), PY (default /usr/bin/python3), DOC (default docs/models.md), NOBUILD=1 to keep the
# binary, TABLE_ONLY=1 to run nothing and only rewrite the table (scripts/zoo_lift.sh does, for its
# "trainable-from" column and section, read from $WORK/lift-results).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
models=${1:?usage: zoo.sh MODELS_DIR [NAME...]}
shift
models=$(cd "$models" && pwd)
WORK=${WORK:-/tmp/zoo}
PY=${PY:-/usr/bin/python3}
DOC=${DOC:-$here/docs/models.md}
LMPSEG=${LMPSEG:-$WORK/lmpseg}
ALSO_INTERMEDIATE=${ALSO_INTERMEDIATE:-lraspp_mobilenet_v3_large_opset17_dyn fcn_resnet50_opset17_dyn}
ALSO_NOVAL=${ALSO_NOVAL:-lraspp_mobilenet_v3_large_opset17_fixed deeplabv3_mobilenet_v3_large_opset17_fixed}
STEP_TIMEOUT=${STEP_TIMEOUT:-600}
mkdir -p "$WORK/results" "$WORK/runs" "$WORK/logs"
# lmpseg finds third_party/ relative to the working directory; name it so the script runs from anywhere
ort=$here/third_party/onnxruntime/lib/libonnxruntime.so.1.24.1
[ -z "${ONNXRUNTIME_LIB:-}" ] && [ -f "$ort" ] && export ONNXRUNTIME_LIB=$ort

[ "${TABLE_ONLY:-}" = 1 ] && NOBUILD=1
if [ "${NOBUILD:-}" != 1 ]; then
	commit=$(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
	dirty=$(cd "$here" && git status --porcelain -- '*.go' 2>/dev/null | grep -q . && echo "+uncommitted" || true)
	(cd "$here" && go build -o "$WORK/lmpseg" .) || { echo "zoo.sh: go build failed" >&2; exit 1; }
	LMPSEG=$WORK/lmpseg
	echo "$commit$dirty" >"$WORK/lmpseg.commit"
fi
# the commit the binary was built from (NOBUILD=1: what the last build recorded)
commit=$(cat "$LMPSEG.commit" 2>/dev/null || echo unknown) dirty=""
[ "${TABLE_ONLY:-}" = 1 ] || echo "$commit" >"$WORK/results/.commit"

ds=$WORK/ds
if [ "${TABLE_ONLY:-}" != 1 ] && [ ! -f "$ds/val/classes.txt" ]; then
	"$LMPSEG" synth --out "$ds" --train 8 --val 4 --size 256x512 || exit 1
fi

if [ $# -gt 0 ]; then
	names=("$@")
else
	mapfile -t names < <("$PY" "$here/scripts/zoo.py" --list "$models" 2>/dev/null || ls "$models" | sed -n 's/\.onnx$//p')
fi
[ "${TABLE_ONLY:-}" = 1 ] && names=()

# shellcheck source=zoo_lib.sh
. "$here/scripts/zoo_lib.sh"

# step_verify STEP: an evaluation whose output holds no mIoU is no pass.
step_verify() {
	case $1 in eval-run | eval-model)
		if ! grep -q '"miou"' "$run/$1.json" 2>/dev/null && ! grep -qi 'miou' "$logd/$1.out"; then
			echo "no mIoU in the output"
			return 1
		fi ;;
	esac
}

# row ID MODEL FEATURE [EXTRA TRAIN/EVAL FLAGS...]: runs the steps, one result line per step.
row() {
	local id=$1 model=$2 feature=$3
	shift 3
	local extra=("$@")
	local safe=${id//[^A-Za-z0-9_.-]/_}
	local run=$WORK/runs/$safe res=$WORK/results/$safe.tsv logd=$WORK/logs/$safe
	rm -rf "$run" "$logd"
	mkdir -p "$logd"
	printf '%s\t%s\tcommit\t%s\t\t\t\n' "$id" "$model" "$commit$dirty" >"$res"
	local ff=()
	[ -n "$feature" ] && ff=(--feature "$feature")
	local steps=(inspect train eval-run export eval-model predict)
	local -A cmd
	local probe=${PROBE:-256x256} crop=${CROP-256x256}
	[ -n "$crop" ] && crop="--crop $crop"
	local val="--val-data $ds/val"
	[ "${NOVAL:-}" = 1 ] && val=""
	cmd[inspect]="$LMPSEG inspect --probe $probe --threads 2 --json $models/$model.onnx"
	cmd[train]="$LMPSEG train --backbone $models/$model.onnx ${ff[*]} --data $ds/train $val --out $run --iters 10 $crop --batch 2 --threads 2 --quiet ${extra[*]}"
	cmd[eval-run]="$LMPSEG eval --run $run --data $ds/val --threads 2 --json $run/eval-run.json"
	cmd[export]="$LMPSEG export --run $run --out $run/model.onnx --threads 2"
	cmd[eval-model]="$LMPSEG eval --model $run/model.onnx --data $ds/val --threads 2 --json $run/eval-model.json"
	cmd[predict]="$LMPSEG predict --model $run/model.onnx --out $run/pred --threads 2 $ds/val/images"
	local failed="" s m
	for s in "${steps[@]}"; do
		# shellcheck disable=SC2086
		step "$id" "$model" "$s" "$logd" ${cmd[$s]} || continue
		case $s in eval-run | eval-model)
			m=$("$PY" -c 'import json,sys; print("%.2f" % (100*json.load(open(sys.argv[1]))["metrics"]["mIoU"]))' "$run/$s.json" 2>/dev/null)
			printf '%s\t%s\tmiou-%s\t%s\t\t\t\n' "$id" "$model" "$s" "${m:-?}" >>"$res" ;;
		esac
	done
}

# pick_feature INSPECT_JSON: an intermediate candidate: the deepest tensor at the largest stride
# below the output's (or at stride 16 when the output is no candidate), not a graph output.
pick_feature() {
	"$PY" - "$@" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = [x for x in (r.get("probe") or {}).get("candidates") or [] if not x.get("graph_output")]
if len(sys.argv) > 2:  # "nhwc": a channels-last candidate
    c = [x for x in c if x.get("nhwc")]
outs = [x for x in (r.get("probe") or {}).get("candidates") or [] if x.get("graph_output")]
top = max([x["stride"] for x in outs] or [32])
below = [x for x in c if x["stride"] < top and x["stride"] >= 4] or c
if not below:
    sys.exit(1)
s = max(x["stride"] for x in below)
print([x for x in below if x["stride"] == s][-1]["name"])
EOF
}

for name in "${names[@]+"${names[@]}"}"; do
	if [ ! -f "$models/$name.onnx" ]; then
		if [ -f "$models/$name.skip" ]; then
			printf '%s\t%s\texport-torch\tnot exported\t\t%s\t%s\n' "$name" "$name" "$(head -n1 "$models/$name.skip" | tr '\t' ' ')" "scripts/zoo.py" >"$WORK/results/$name.tsv"
		fi
		continue
	fi
	kind=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("kind",""))' "$models/$name.json" 2>/dev/null)
	row "$name" "$name" ""
	case $name in *uint8*) row "$name (raw)" "$name" "" --range 0-255 --mean 0,0,0 --std 1,1,1 ;; esac
	# A fixed-size model once more as a user would after reading the errors: probed at its own size,
	# trained without --crop (lmpseg picks the crop for the model's size).
	fixed=$("$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print("" if j.get("dynamic", True) else "x".join(map(str, j["trace_shape"][2:4] if j.get("layout")!="nhwc" else j["trace_shape"][1:3])))' "$models/$name.json" 2>/dev/null)
	[ -n "$fixed" ] && PROBE=$fixed CROP= row "$name (probe $fixed, no --crop)" "$name" ""
	# and, for a few, without validation during training, to see the steps after train
	if [ -n "$fixed" ] && [[ " $ALSO_NOVAL " == *" $name "* ]]; then
		PROBE=$fixed CROP= NOVAL=1 row "$name (probe $fixed, no --crop, no --val-data)" "$name" ""
	fi
	if [ "$kind" = backbone ] || [ "$kind" = classifier ] || [[ " $ALSO_INTERMEDIATE " == *" $name "* ]]; then
		safe=${name//[^A-Za-z0-9_.-]/_}
		js=$WORK/logs/$safe/inspect.out
		if f=$(pick_feature "$js" 2>/dev/null) && [ -n "$f" ]; then
			row "$name @ $f" "$name" "$f"
		else
			printf '%s\t%s\tinspect\tfail\t\tno intermediate candidate in inspect --json\t\n' "$name @ ?" "$name" >"$WORK/results/${safe}@.tsv"
		fi
		# and a channels-last (NHWC) candidate where inspect lists one (ConvNeXt's blocks)
		if f=$(pick_feature "$js" nhwc 2>/dev/null) && [ -n "$f" ]; then
			row "$name @ $f (NHWC)" "$name" "$f"
		fi
	fi
done

# The table, in zoo.py's order, from every result file.
"$PY" - "$WORK/results" "$DOC" "$models" "$here/scripts/zoo.py" "$WORK/lift-results" <<'EOF'
import glob, json, os, re, subprocess, sys
resdir, doc, models, zoopy, liftdir = sys.argv[1:6]


def read_rows(d):
    rows = {}
    for f in glob.glob(os.path.join(d, "*.tsv")):
        for line in open(f):
            p = line.rstrip("\n").split("\t")
            if len(p) < 7:
                continue
            rid, model, step, status, secs, err, cmd = p[:7]
            rows.setdefault(rid, {"model": model, "steps": {}})["steps"][step] = (status, secs, err, cmd)
    return rows


rows = read_rows(resdir)
lift = read_rows(liftdir)  # scripts/zoo_lift.sh: train --trainable-from, by model
# Every lifted model has a row in the table, even one zoo.sh has not run.
for rid, r in lift.items():
    rows.setdefault(rid, {"model": r["model"], "steps": {"commit": ("", "", "", "")}})
try:
    order = subprocess.run([sys.executable, zoopy, "--list", "--big", "x"], capture_output=True, text=True).stdout.split()
except Exception:
    order = []
pos = {n: i for i, n in enumerate(order)}
ids = sorted(rows, key=lambda r: (pos.get(rows[r]["model"], 1 << 20), rows[r]["model"], r))
steps = ["inspect", "train", "eval-run", "export", "eval-model", "predict"]
commit = open(os.path.join(resdir, ".commit")).read().strip() if os.path.exists(os.path.join(resdir, ".commit")) else "?"
info = {}
for rid in ids:
    j = os.path.join(models, rows[rid]["model"] + ".json")
    if os.path.exists(j):
        info[rows[rid]["model"]] = json.load(open(j))
vers = next(iter(info.values()), {})
out = []
out.append("# Models as users bring them\n")
out.append("`scripts/zoo.py` exports torchvision models with random weights (Debian's python3-torch "
           f"{vers.get('torch', '?')}, torchvision {vers.get('torchvision', '?')}, onnx {vers.get('onnx', '?')}); "
           "`scripts/zoo.sh` runs lmpseg's whole pipeline on each, on `lmpseg synth --train 8 --val 4 --size 256x512`: "
           "inspect --probe 256x256, train (--iters 10 --crop 256x256 --batch 2 --threads 2; default --feature, and for "
           "backbones an intermediate tensor from inspect's candidates, `NAME @ TENSOR`), eval --run, export, "
           "eval --model, predict. Each cell is pass/fail and seconds (2-core machine shared with other jobs, "
           "so times are rough); after a failure the rest of the row is skipped. "
           "The last column is the commit lmpseg was built from for that row (+uncommitted: the tree "
           "had uncommitted Go changes of other contributors). Random weights and 10 iterations give "
           "near-constant predictions, so the mIoU column only checks that eval --run and eval --model agree.\n")
out.append("Regenerate: `/usr/bin/python3 scripts/zoo.py /tmp/zoo/models && bash scripts/zoo.sh /tmp/zoo/models` "
           "(one model again: `bash scripts/zoo.sh /tmp/zoo/models NAME`).\n")
out.append("The column trainable-from is `scripts/zoo_lift.sh`'s run of the same model with its own decoder "
           "lifted and fine-tuned (`train --trainable-from TENSOR`), detailed under "
           "[Trainable-from](#trainable-from-the-models-own-decoder).\n")
out.append("| model | input | " + " | ".join(steps) + " | mIoU % run / model | trainable-from | lmpseg |")
out.append("|---|---|" + "---|" * (len(steps) + 3))
errs = []
lsteps1 = ["train", "eval-run", "export", "eval-model", "agree", "predict"]
lsteps0 = ["train0", "export0", "parity", "predict-orig", "predict0", "masks"]
lerrs = []


def lift_cell(rid):
    """The trainable-from cell of row rid: the outcome and the tensor."""
    r = lift.get(rid)
    if r is None:
        return ""
    st = r["steps"]
    frm = st.get("from", ("?",))[0]
    ex = f", {st['extra'][0]}" if st.get("extra", ("",))[0] else ""
    bad = [s for s in ["from"] + lsteps1 + lsteps0 if st.get(s, ("",))[0] == "fail"]
    if bad:
        return "**FAIL** " + ", ".join(bad) + f" (from `{frm}`{ex})"
    missing = [s for s in lsteps1 + lsteps0 if s != "agree" and st.get(s, ("",))[0] != "pass"]
    if missing:
        return "incomplete: " + ", ".join(missing) + f" (from `{frm}`{ex})"
    return f"pass (from `{frm}`{ex})"


for rid in ids:
    r = rows[rid]
    i = info.get(r["model"], {})
    inp = (f"{i.get('dtype', '')} {i.get('layout', '').upper()} "
           f"{'dyn' if i.get('dynamic') else 'fixed ' + 'x'.join(map(str, i.get('trace_shape', [])))} op{i.get('opset', '')}").strip()
    cells = []
    if "export-torch" in r["steps"]:
        st = r["steps"]["export-torch"]
        out.append(f"| {rid} | not exported | " + " | ".join(["-"] * len(steps)) + " | | | |")
        errs.append(f"- **{rid}**, torch export (scripts/zoo.py): `{st[2]}`")
        continue
    for s in steps:
        st = r["steps"].get(s)
        if st is None:
            cells.append("")
        elif st[0] == "pass":
            cells.append(f"pass {st[1]}")
        elif st[0] == "fail":
            n = len(errs) + 1
            cells.append(f"**FAIL** {st[1]} [{n}]")
            errs.append(f"{n}. **{rid}**, {s}: `{st[2]}`\n   command: `{st[3]}`")
        else:
            cells.append(st[0])
    mr, mm = r["steps"].get("miou-eval-run", ("",))[0], r["steps"].get("miou-eval-model", ("",))[0]
    mi = f"{mr} / {mm}" if mr or mm else ""
    if mr and mm and mr != mm:
        mi += " (differ)"
    out.append(f"| {rid} | {inp} | " + " | ".join(cells) + f" | {mi} | {lift_cell(rid)} | {r['steps'].get('commit', ('?',))[0]} |")
out.append("")
if lift:
    out.append("## Trainable-from: the model's own decoder\n")
    out.append("`scripts/zoo_lift.sh` runs, for each of torchvision's six segmentation models, the pipeline with the "
               "decoder lifted from the tensor its classifier reads (`scripts/zoo_lift.py from`; LR-ASPP's decoder also "
               "reads a low-level backbone tensor, which lmpseg finds itself): `train --trainable-from TENSOR` on the "
               "12-class set (a new classifier; --iters 10 --crop 256x256 --batch 2 --threads 2, and the flags in brackets: "
               "see zoo_lift.sh for why), eval --run, export, "
               "eval --model (the two mIoUs must be equal), predict. Then `train --trainable-from TENSOR --iters 0` "
               "with the models' own 21 classes (the same images, 21 class names: the classifier is kept), export, "
               "and the exported model against the original: `TestZooParity` (lift/zoo_test.go: onnxruntime on the 4 "
               "val images, largest score difference relative to the scores' largest magnitude, tolerance 1e-4, and "
               "the argmax), and the masks of `lmpseg predict` with each model (at least 99.99% of the pixels the "
               "same). Regenerate: `/usr/bin/python3 scripts/zoo.py /tmp/zoo/models --heads && bash scripts/zoo_lift.sh "
               "/tmp/zoo/models`.\n")
    cols = ["train", "eval-run", "export", "eval-model", "predict"]
    cols0 = ["train0", "export0", "parity", "predict0"]
    out.append("| model | trainable from | " + " | ".join(cols) + " | mIoU % run / model | export parity (Go vs ONNX) "
               "| --iters 0: train | export | scores vs original | predict | masks vs original | lmpseg |")
    out.append("|---|---|" + "---|" * (len(cols) + len(cols0) + 4))
    for rid in ids:
        r = lift.get(rid)
        if r is None:
            continue
        st = r["steps"]

        def cell(s):
            v = st.get(s)
            if v is None:
                return ""
            if v[0] == "pass":
                return f"pass {v[1]}"
            if v[0] == "fail":
                n = len(lerrs) + 1
                lerrs.append(f"L{n}. **{rid}**, {s}: `{v[2]}`\n   command: `{v[3]}`")
                return f"**FAIL** {v[1]} [L{n}]"
            return v[0]

        mr, mm = st.get("miou-eval-run", ("",))[0], st.get("miou-eval-model", ("",))[0]
        mi = f"{mr} / {mm}" if mr or mm else ""
        if "agree" in st:
            mi += " (differ)"
        par = st.get("export-parity", ("",))[0]
        pm = re.search(r"at (\S+): max logit difference (\S+) relative.*argmax agrees on (\S+) of pixels", par)
        if pm:
            par = f"{pm.group(1)}: {pm.group(2)} of the scale, argmax {pm.group(3)}"
        fig = st.get("parity-figures", ("",))[0].replace("max score difference ", "")
        pc = cell("parity")
        if fig:
            pc += f": {fig}"
        mk = st.get("masks")
        mc = "" if mk is None else (f"{mk[0]}: {mk[2]}" if mk[0] in ("pass", "fail") else mk[0])
        if mk is not None and mk[0] == "fail":
            lerrs.append(f"L{len(lerrs) + 1}. **{rid}**, masks: `{mk[2]}`\n   command: `{mk[3]}`")
        ex = st.get("extra", ("",))[0]
        row = [rid, f"`{st.get('from', ('?',))[0]}`" + (f" ({ex})" if ex else "")] + [cell(s) for s in cols] + [mi, par] + \
              [cell("train0"), cell("export0"), pc, cell("predict0"), mc, st.get("commit", ("?",))[0]]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    if lerrs:
        out.append("Trainable-from errors:\n")
        out.extend(lerrs)
        out.append("")
if errs:
    out.append("## Errors\n")
    out.extend(errs)
    out.append("")
notes = [f"- {m}: {i['note']}" for m, i in info.items() if i.get("note")]
if notes:
    out.append("## Model notes\n")
    out.extend(notes)
    out.append("")
skips = sorted(glob.glob(os.path.join(models, "*.skip")))
if skips:
    out.append("## Not exported\n")
    for s in skips:
        out.append(f"- {os.path.basename(s)[:-5]}: `{open(s).readline().strip()}`")
    out.append("")
# Hand-written notes below this heading survive regeneration.
keep = ""
mark = "## Diagnosis"
if os.path.exists(doc):
    old = open(doc).read()
    if "\n" + mark in old:
        keep = old[old.index("\n" + mark) + 1:]
open(doc, "w").write("\n".join(out) + ("\n" + keep if keep else ""))
print("wrote", doc)
EOF
