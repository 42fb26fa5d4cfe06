# zoo_lib.sh: the step runner that scripts/zoo.sh and scripts/zoo_lift.sh source.
#
# The caller sets STEP_TIMEOUT, res (the result TSV) and failed ("" until a step of the current part
# fails), and may define step_verify STEP, which runs after a step's command succeeds and, to fail
# the step, prints why and returns non-zero.

# first_error LOG: the first line that says what went wrong.
first_error() {
	local l
	l=$(grep -m1 -iE 'error|panic|fatal|fail|refuse|cannot|invalid|differ' "$1")
	[ -n "$l" ] || l=$(grep -v '^\s*$' "$1" | tail -n1)
	printf '%s' "$l" | tr '\t' ' ' | cut -c1-400
}

# step ID MODEL STEP LOGDIR CMD...: runs CMD under timeout, appends a result line to $res, and
# returns its status; after a failure in the same part ($failed set) it only records "skipped".
step() {
	local id=$1 model=$2 s=$3 logd=$4
	shift 4
	if [ -n "$failed" ]; then
		printf '%s\t%s\t%s\tskipped\t\t\t\n' "$id" "$model" "$s" >>"$res"
		return 1
	fi
	echo "== $id: $s: $*" >&2
	local t0 t1 rc secs err="" status=pass
	t0=$(date +%s.%N)
	timeout "$STEP_TIMEOUT" "$@" >"$logd/$s.out" 2>"$logd/$s.err"
	rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
	if [ $rc -eq 124 ]; then
		status=fail err="timeout after ${STEP_TIMEOUT} s"
	elif [ $rc -ne 0 ]; then
		status=fail
		err=$(first_error "$logd/$s.err")
		[ -n "$err" ] || err=$(first_error "$logd/$s.out")
		err="exit $rc: $err"
	elif declare -F step_verify >/dev/null && ! err=$(step_verify "$s"); then
		status=fail
	fi
	[ $status = fail ] && failed=1
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$model" "$s" "$status" "$secs" "$err" "$*" >>"$res"
	echo "   $status ${secs}s $err" >&2
	[ $status = pass ]
}
