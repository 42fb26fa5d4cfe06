package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	urfave "github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/internal/cli"
	"github.com/lmpseg/lmpseg/train"
)

// cacheFiles returns the files under a feature cache root by their path relative to it.
func cacheFiles(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Three extract processes of the built binary, shards 0/3, 1/3 and 2/3 (from --shard, from
// JOB_COMPLETION_INDEX and from SLURM_ARRAY_TASK_ID), run at once into one cache folder, give the
// cache of one unsharded extraction byte for byte; training on it never misses and gives the
// checkpoint of a run that filled its own cache.
func TestExtractShardedProcesses(t *testing.T) {
	ds := synthData(t)
	tmp := fastTempDir(t)
	sharded, whole, own := filepath.Join(tmp, "sharded"), filepath.Join(tmp, "whole"), filepath.Join(tmp, "own")
	args := func(cache string, extra ...string) []string {
		return append([]string{"extract", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--feature", "feat_s4",
			"--data", filepath.Join(ds, "train"), "--val-data", filepath.Join(ds, "val"), "--cache-dir", cache, "--threads", "1", "--quiet"}, extra...)
	}
	shards := []struct {
		env  []string
		args []string
	}{
		{nil, args(sharded, "--shard", "0/3")},
		{[]string{"JOB_COMPLETION_INDEX=1"}, args(sharded, "--shards", "3")},
		{[]string{"SLURM_ARRAY_TASK_ID=12", "SLURM_ARRAY_TASK_MIN=10", "SLURM_ARRAY_TASK_COUNT=3"}, args(sharded)},
	}
	outs := make([]string, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for k, s := range shards {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			cmd := exec.Command(binPath, s.args...)
			cmd.Dir = tmp
			cmd.Env = append(os.Environ(), s.env...)
			b, err := cmd.CombinedOutput()
			outs[k], errs[k] = string(b), err
		}(k)
	}
	wg.Wait()
	for k := range shards {
		if errs[k] != nil {
			t.Fatalf("shard %d: %v\n%s", k, errs[k], outs[k])
		}
		// 6 training and 3 validation images: shard k has 2 + 1.
		if want := fmt.Sprintf("shard %d/3: 3 images, 3 written, 0 already present", k); !strings.Contains(outs[k], want) {
			t.Errorf("shard %d says %q, want %q", k, outs[k], want)
		}
	}
	if out, errOut, code := runBin(t, tmp, args(whole)...); code != 0 {
		t.Fatalf("unsharded extract: exit %d\n%s%s", code, out, errOut)
	}
	got, want := cacheFiles(t, sharded), cacheFiles(t, whole)
	if len(want) != 9 {
		t.Fatalf("the unsharded extraction wrote %d files, want 9: %v", len(want), keys(want))
	}
	if len(got) != len(want) {
		t.Fatalf("the sharded extraction wrote %v, the unsharded one %v", keys(got), keys(want))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s differs between the sharded and the unsharded extraction", name)
		}
	}

	out, errOut, code := runBin(t, tmp, args(sharded, "--status")...)
	if code != 0 || !strings.Contains(out, "6 present, 0 missing, 0 stale of 6") || !strings.Contains(out, "3 present, 0 missing, 0 stale of 3") {
		t.Errorf("--status: exit %d\n%s%s", code, out, errOut)
	}
	// Other preprocessing: another key, so every entry is stale.
	out, errOut, code = runBin(t, tmp, args(sharded, "--status", "--mean", "0.5,0.5,0.5")...)
	if code != 0 || !strings.Contains(out, "0 present, 0 missing, 6 stale of 6") {
		t.Errorf("--status with another --mean: exit %d\n%s%s", code, out, errOut)
	}

	runs := map[string]string{}
	for _, cache := range []string{sharded, own} {
		run := filepath.Join(tmp, "run-"+filepath.Base(cache))
		r := mustRun(t, "train", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--feature", "feat_s4",
			"--data", filepath.Join(ds, "train"), "--val-data", filepath.Join(ds, "val"), "--out", run,
			"--cache-features", "--cache-dir", cache, "--iters", "6", "--loss", "lmp", "--lr", "0.05", "--threads", "1")
		status := "6 present, 0 missing, 0 stale of 6"
		if cache == own {
			status = "0 present, 6 missing, 0 stale of 6"
		}
		if !strings.Contains(r.stdout, status) {
			t.Errorf("train on %s: want the status line %q in\n%s", filepath.Base(cache), status, r.stdout)
		}
		runs[cache] = run
	}
	for _, f := range []string{train.LastCkpt, train.BestCkpt} {
		a, b := readFile(t, filepath.Join(runs[sharded], f)), readFile(t, filepath.Join(runs[own], f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s of the run on the extracted cache differs from that of the run that filled its own", f)
		}
	}
	// Training filled its own cache with the entries extract wrote.
	if ownFiles := cacheFiles(t, own); len(ownFiles) != len(want) {
		t.Errorf("training's own cache has %v, extract's %v", keys(ownFiles), keys(want))
	} else {
		for name, b := range want {
			if !bytes.Equal(ownFiles[name], b) {
				t.Errorf("%s differs between extract's and training's cache", name)
			}
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Bad shard settings are refused before anything runs, naming the setting.
func TestExtractBadShard(t *testing.T) {
	ds := synthData(t)
	tmp := fastTempDir(t)
	base := []string{"extract", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--data", filepath.Join(ds, "train"), "--cache-dir", filepath.Join(tmp, "c")}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"index past count", nil, []string{"--shard", "3/3"}, "0..2"},
		{"not i/N", nil, []string{"--shard", "2"}, "i/N"},
		{"completion index without count", []string{"JOB_COMPLETION_INDEX=1"}, nil, "number of shards"},
		{"no data", nil, []string{"--data", ""}, "--data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runBinEnv(t, tmp, tc.env, append(append([]string{}, base...), tc.args...)...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want a failure naming %q\n%s", code, errOut, tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(tmp, "c")); err == nil {
				t.Error("the cache folder was created")
			}
		})
	}
}

// The YAML subset the manifests in docs/scale.md use: block mappings and sequences by
// indentation, "- key: value" items, comments, "---" between documents, plain scalars (whole
// numbers become int, true/false bool), JSON strings and JSON flow sequences (which may span
// lines). Anything else is an error, so that the checked manifest cannot drift out of it.
type yamlLine struct {
	indent int
	text   string
	num    int
}

func parseYAMLDocs(src string) ([]any, error) {
	var docs []any
	var cur []yamlLine
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		v, next, err := parseYAMLNode(cur, 0, cur[0].indent)
		if err == nil && next != len(cur) {
			err = fmt.Errorf("line %d: unexpected indentation", cur[next].num)
		}
		docs, cur = append(docs, v), nil
		return err
	}
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t")
		if strings.Contains(l, "\t") {
			return nil, fmt.Errorf("line %d: a tab", i+1)
		}
		if l == "---" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		l = stripYAMLComment(l)
		t := strings.TrimLeft(l, " ")
		if t == "" {
			continue
		}
		yl := yamlLine{indent: len(l) - len(t), text: t, num: i + 1}
		// A flow sequence continues until its brackets balance.
		for depth := flowDepth(t); depth > 0; depth = flowDepth(yl.text) {
			if i++; i >= len(lines) {
				return nil, fmt.Errorf("line %d: unterminated [", yl.num)
			}
			yl.text += " " + strings.TrimSpace(stripYAMLComment(lines[i]))
		}
		cur = append(cur, yl)
	}
	return docs, flush()
}

// stripYAMLComment drops a comment: "#" at the start or after a space, outside quotes.
func stripYAMLComment(l string) string {
	for i := range unquoted(l) {
		if l[i] == '#' && (i == 0 || l[i-1] == ' ') {
			return strings.TrimRight(l[:i], " ")
		}
	}
	return l
}

// unquoted yields the positions of the bytes of l outside double quotes, in order; the quotes
// are not yielded, and inside quotes a backslash escapes the byte after it.
func unquoted(l string) iter.Seq[int] {
	return func(yield func(int) bool) {
		in := false
		for i := 0; i < len(l); i++ {
			switch {
			case l[i] == '\\' && in:
				i++
			case l[i] == '"':
				in = !in
			case !in:
				if !yield(i) {
					return
				}
			}
		}
	}
}

// flowDepth returns how many "[" of the line's value are open at its end, outside quotes.
func flowDepth(t string) int {
	d := 0
	for i := range unquoted(t) {
		switch t[i] {
		case '[':
			d++
		case ']':
			d--
		}
	}
	return d
}

func parseYAMLNode(ls []yamlLine, i, indent int) (any, int, error) {
	if strings.HasPrefix(ls[i].text, "- ") || ls[i].text == "-" {
		return parseYAMLSeq(ls, i, indent)
	}
	return parseYAMLMap(ls, i, indent)
}

func parseYAMLSeq(ls []yamlLine, i, indent int) (any, int, error) {
	var seq []any
	for i < len(ls) && ls[i].indent == indent && (strings.HasPrefix(ls[i].text, "- ") || ls[i].text == "-") {
		rest := strings.TrimLeft(strings.TrimPrefix(ls[i].text, "-"), " ")
		switch {
		case rest == "":
			if i+1 >= len(ls) || ls[i+1].indent <= indent {
				return nil, 0, fmt.Errorf("line %d: empty sequence item", ls[i].num)
			}
			v, next, err := parseYAMLNode(ls, i+1, ls[i+1].indent)
			if err != nil {
				return nil, 0, err
			}
			seq, i = append(seq, v), next
		case isYAMLKey(rest):
			// "- key: value": a mapping whose first entry sits where the text starts.
			sub := append([]yamlLine(nil), ls...)
			col := indent + len(ls[i].text) - len(rest)
			sub[i] = yamlLine{indent: col, text: rest, num: ls[i].num}
			v, next, err := parseYAMLMap(sub, i, col)
			if err != nil {
				return nil, 0, err
			}
			seq, i = append(seq, v), next
		default:
			v, err := parseYAMLScalar(rest, ls[i].num)
			if err != nil {
				return nil, 0, err
			}
			seq, i = append(seq, v), i+1
		}
	}
	return seq, i, nil
}

// isYAMLKey reports whether t starts a mapping entry "key:" or "key: value".
func isYAMLKey(t string) bool {
	if t == "" || t[0] == '"' || t[0] == '[' {
		return false
	}
	k, _, ok := strings.Cut(t, ":")
	return ok && !strings.ContainsAny(k, " \"[") && (len(t) == len(k)+1 || t[len(k)+1] == ' ')
}

func parseYAMLMap(ls []yamlLine, i, indent int) (any, int, error) {
	m := map[string]any{}
	for i < len(ls) && ls[i].indent == indent {
		l := ls[i]
		if !isYAMLKey(l.text) {
			return nil, 0, fmt.Errorf("line %d: %q is not key: value", l.num, l.text)
		}
		k, v, _ := strings.Cut(l.text, ":")
		v = strings.TrimSpace(v)
		if _, dup := m[k]; dup {
			return nil, 0, fmt.Errorf("line %d: key %s twice", l.num, k)
		}
		if v != "" {
			s, err := parseYAMLScalar(v, l.num)
			if err != nil {
				return nil, 0, err
			}
			m[k], i = s, i+1
			continue
		}
		// A nested block: deeper, or a sequence at the key's own indentation.
		if i+1 < len(ls) && (ls[i+1].indent > indent || ls[i+1].indent == indent && strings.HasPrefix(ls[i+1].text, "- ")) {
			sub, next, err := parseYAMLNode(ls, i+1, ls[i+1].indent)
			if err != nil {
				return nil, 0, err
			}
			m[k], i = sub, next
			continue
		}
		m[k], i = nil, i+1
	}
	if i < len(ls) && ls[i].indent > indent {
		return nil, 0, fmt.Errorf("line %d: unexpected indentation", ls[i].num)
	}
	return m, i, nil
}

func parseYAMLScalar(v string, num int) (any, error) {
	switch {
	case strings.HasPrefix(v, "\""):
		var s string
		if err := json.Unmarshal([]byte(v), &s); err != nil {
			return nil, fmt.Errorf("line %d: %v", num, err)
		}
		return s, nil
	case strings.HasPrefix(v, "["):
		var a []any
		if err := json.Unmarshal([]byte(v), &a); err != nil {
			return nil, fmt.Errorf("line %d: flow sequences must be JSON: %v", num, err)
		}
		return a, nil
	case strings.ContainsAny(v[:1], "'{&*!|>%@`"):
		return nil, fmt.Errorf("line %d: %q is outside the YAML subset", num, v)
	case v == "true" || v == "false":
		return v == "true", nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n, nil
	}
	return v, nil
}

func TestYAMLSubset(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want string // fmt.Sprint of the documents, or "error"
	}{
		{"a: 1\nb: x # c\n", "[map[a:1 b:x]]"},
		{"a:\n  - 1\n  - \"two # not a comment\"\n", "[map[a:[1 two # not a comment]]]"},
		{"a:\n- k: v\n  l: [\"x\",\n     \"y\"]\n- 3\n", "[map[a:[map[k:v l:[x y]] 3]]]"},
		{"a: 1\n---\nb: true\n", "[map[a:1] map[b:true]]"},
		{"a:\n  b:\n    c: d\n  e: f\n", "[map[a:map[b:map[c:d] e:f]]]"},
		{"a: 1\n a: 2\n", "error"},
		{"a: 1\na: 2\n", "error"},
		{"a: {b: 1}\n", "error"},
		{"a: [x]\n", "error"},
		{"a: 'x'\n", "error"},
		{"- a\nb: 1\n", "error"},
	} {
		docs, err := parseYAMLDocs(tc.src)
		got := fmt.Sprint(docs)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("%q: got %s (%v), want %s", tc.src, got, err, tc.want)
		}
	}
}

// jobFields lists the batch/v1 Job fields the manifests may use, by path ("*" is any key, for
// resource names); a field outside it is a typo or needs adding here with its check.
var jobFields = map[string]bool{
	"apiVersion": true, "kind": true, "metadata": true, "metadata.name": true, "metadata.labels": true, "metadata.labels.*": true,
	"spec": true, "spec.completions": true, "spec.parallelism": true, "spec.completionMode": true, "spec.backoffLimit": true,
	"spec.backoffLimitPerIndex": true, "spec.maxFailedIndexes": true, "spec.ttlSecondsAfterFinished": true, "spec.activeDeadlineSeconds": true,
	"spec.template": true, "spec.template.metadata": true, "spec.template.metadata.labels": true, "spec.template.metadata.labels.*": true,
	"spec.template.spec": true, "spec.template.spec.restartPolicy": true, "spec.template.spec.containers": true, "spec.template.spec.volumes": true,
	"spec.template.spec.subdomain": true, "spec.template.spec.nodeSelector": true, "spec.template.spec.nodeSelector.*": true,
	"container.name": true, "container.image": true, "container.command": true, "container.args": true, "container.workingDir": true,
	"container.resources": true, "container.resources.requests": true, "container.resources.limits": true,
	"container.resources.requests.*": true, "container.resources.limits.*": true,
	"container.volumeMounts": true, "container.volumeMounts.name": true, "container.volumeMounts.mountPath": true,
	"container.volumeMounts.readOnly": true, "container.volumeMounts.subPath": true,
	"volume.name": true, "volume.persistentVolumeClaim": true, "volume.persistentVolumeClaim.claimName": true,
	"volume.persistentVolumeClaim.readOnly": true, "volume.emptyDir": true, "volume.emptyDir.medium": true, "volume.emptyDir.sizeLimit": true,
}

// checkFields reports fields of v under path that jobFields does not list.
func checkFields(t *testing.T, doc int, path string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			switch {
			case jobFields[p]:
			case path != "" && jobFields[path+".*"]:
				p = path + ".*"
			default:
				t.Errorf("document %d: field %s is not one the check knows of batch/v1 Job", doc, p)
				continue
			}
			switch p {
			case "spec.template.spec.containers":
				for _, c := range asList(sub) {
					checkFields(t, doc, "container", c)
				}
			case "spec.template.spec.volumes":
				for _, c := range asList(sub) {
					checkFields(t, doc, "volume", c)
				}
			case "container.volumeMounts":
				for _, c := range asList(sub) {
					checkFields(t, doc, p, c)
				}
			default:
				checkFields(t, doc, p, sub)
			}
		}
	case []any:
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				t.Errorf("document %d: %s is a list of mappings or lists the check does not know", doc, path)
				return
			}
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

// at returns the value at a dotted path of maps.
func at(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		v = asMap(v)[k]
	}
	return v
}

// fencedBlocks returns the bodies of the ```lang blocks of a Markdown file.
func fencedBlocks(md, lang string) []string {
	var out []string
	for _, part := range strings.Split(md, "```"+lang+"\n")[1:] {
		body, _, ok := strings.Cut(part, "```")
		if ok {
			out = append(out, body)
		}
	}
	return out
}

// lmpsegInvocation returns the lmpseg command and its arguments in a container command: the
// command itself, or the script of "sh -c" split into words (the shell variables dropped).
func lmpsegInvocation(cmd []string) []string {
	if len(cmd) == 3 && cmd[0] == "sh" && cmd[1] == "-c" {
		_, s, ok := strings.Cut(cmd[2], "lmpseg ")
		if !ok {
			return nil
		}
		var words []string
		for _, w := range strings.Fields(s) {
			if !strings.HasPrefix(w, "$") {
				words = append(words, w)
			}
		}
		return words
	}
	if len(cmd) > 1 && cmd[0] == "lmpseg" {
		return cmd[1:]
	}
	return nil
}

// checkFlags checks that args ("cmd --flag value ...") name an lmpseg command and only its
// flags, and returns the flags' values.
func checkFlags(t *testing.T, where string, args []string) map[string]string {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no lmpseg command", where)
		return nil
	}
	var cmd *urfave.Command
	for _, c := range cli.NewApp().Commands {
		if c.Name == args[0] {
			cmd = c
		}
	}
	if cmd == nil {
		t.Errorf("%s: lmpseg has no command %q", where, args[0])
		return nil
	}
	takes := cli.FlagValues(cmd)
	vals := map[string]string{}
	for i := 1; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		value, hasValue := "", false
		if ok {
			name, value, hasValue = strings.Cut(name, "=")
		}
		wantValue, known := takes[name]
		if !ok || !known {
			t.Errorf("%s: lmpseg %s has no flag %q", where, args[0], args[i])
			continue
		}
		if wantValue && !hasValue {
			if i+1 >= len(args) {
				t.Errorf("%s: --%s needs a value", where, name)
				break
			}
			i++
			value = args[i]
		}
		vals[name] = strings.Trim(value, "\"")
	}
	return vals
}

// The Kubernetes Jobs and the Slurm script of docs/scale.md: well-formed, batch/v1 Jobs as the
// scheduler needs them, lmpseg commands with real flags, and one extraction and one training job
// that agree on what the cache is keyed by.
func TestScaleManifests(t *testing.T) {
	md := string(readFile(t, filepath.Join(repoRoot, "docs", "scale.md")))
	blocks := fencedBlocks(md, "yaml")
	if len(blocks) != 1 {
		t.Fatalf("docs/scale.md has %d yaml blocks, want 1", len(blocks))
	}
	docs, err := parseYAMLDocs(blocks[0])
	if err != nil {
		t.Fatalf("docs/scale.md: %v", err)
	}
	byCmd := map[string]map[string]string{}
	for d, doc := range docs {
		d++
		checkFields(t, d, "", doc)
		for _, f := range []struct{ path, want string }{{"apiVersion", "batch/v1"}, {"kind", "Job"}} {
			if got := at(doc, f.path); got != f.want {
				t.Errorf("document %d: %s %v, want %s", d, f.path, got, f.want)
			}
		}
		if name, _ := at(doc, "metadata.name").(string); name == "" {
			t.Errorf("document %d: no metadata.name", d)
		}
		completions, _ := at(doc, "spec.completions").(int)
		parallelism, _ := at(doc, "spec.parallelism").(int)
		if completions < 1 || parallelism < 1 {
			t.Errorf("document %d: completions %v, parallelism %v; want whole numbers >= 1", d, at(doc, "spec.completions"), at(doc, "spec.parallelism"))
		}
		mode := at(doc, "spec.completionMode")
		if mode != nil && mode != "Indexed" && mode != "NonIndexed" {
			t.Errorf("document %d: completionMode %v", d, mode)
		}
		policy := at(doc, "spec.template.spec.restartPolicy")
		if policy != "Never" && policy != "OnFailure" {
			t.Errorf("document %d: restartPolicy %v, want Never or OnFailure (a Job's pods may not use Always)", d, policy)
		}
		if at(doc, "spec.backoffLimitPerIndex") != nil && (mode != "Indexed" || policy != "Never") {
			t.Errorf("document %d: backoffLimitPerIndex needs completionMode Indexed and restartPolicy Never", d)
		}
		volumes := map[string]bool{}
		for _, v := range asList(at(doc, "spec.template.spec.volumes")) {
			volumes[fmt.Sprint(asMap(v)["name"])] = true
		}
		containers := asList(at(doc, "spec.template.spec.containers"))
		if len(containers) == 0 {
			t.Errorf("document %d: no containers", d)
		}
		for _, c := range containers {
			cm := asMap(c)
			name, _ := cm["name"].(string)
			image, _ := cm["image"].(string)
			if name == "" || image == "" {
				t.Errorf("document %d: a container without name or image: %v", d, cm)
			}
			var cmd []string
			for _, w := range asList(cm["command"]) {
				s, ok := w.(string)
				if !ok {
					t.Errorf("document %d: command word %v is not a string", d, w)
				}
				cmd = append(cmd, s)
			}
			if len(cmd) == 0 {
				t.Errorf("document %d: container %s has no command", d, name)
			}
			for _, m := range asList(cm["volumeMounts"]) {
				mm := asMap(m)
				if !volumes[fmt.Sprint(mm["name"])] || !strings.HasPrefix(fmt.Sprint(mm["mountPath"]), "/") {
					t.Errorf("document %d: volume mount %v has no volume or no absolute mountPath", d, mm)
				}
			}
			args := lmpsegInvocation(cmd)
			flags := checkFlags(t, fmt.Sprintf("document %d", d), args)
			if len(args) > 0 {
				byCmd[args[0]] = flags
			}
			if len(args) > 0 && args[0] == "extract" {
				if mode != "Indexed" {
					t.Errorf("document %d: the extraction is not an Indexed Job", d)
				}
				if flags["shards"] != strconv.Itoa(completions) {
					t.Errorf("document %d: --shards %s but completions %d: shards would be missed or repeated", d, flags["shards"], completions)
				}
			}
		}
	}
	ex, tr := byCmd["extract"], byCmd["train"]
	if ex == nil || tr == nil {
		t.Fatalf("want one extract and one train job, got %v", byCmd)
	}
	if _, ok := tr["cache-features"]; !ok {
		t.Error("the training job does not read the cache (--cache-features)")
	}
	for _, f := range []string{"backbone", "feature", "data", "val-data", "format", "split", "cache-dir", "mean", "std", "range", "channels"} {
		if ex[f] != tr[f] {
			t.Errorf("--%s: extraction %q, training %q; the training job would not find the entries", f, ex[f], tr[f])
		}
	}

	// The Slurm script: valid bash, real flags, the same keying as the Kubernetes jobs.
	var script string
	for _, b := range fencedBlocks(md, "bash") {
		if strings.Contains(b, "#SBATCH") {
			script = b
		}
	}
	if script == "" {
		t.Fatal("docs/scale.md has no Slurm script (a bash block with #SBATCH)")
	}
	if !strings.Contains(script, "#SBATCH --array=") {
		t.Error("the Slurm script is not a job array")
	}
	path := filepath.Join(fastTempDir(t), "extract.sbatch")
	writeFile(t, path, []byte(script))
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
	joined := strings.ReplaceAll(script, "\\\n", " ")
	_, call, ok := strings.Cut(joined, "lmpseg ")
	call, _, _ = strings.Cut(call, "\n")
	var words []string
	for _, w := range strings.Fields(call) {
		if !strings.Contains(w, "$") {
			words = append(words, w)
		} else if len(words) > 0 && strings.HasPrefix(words[len(words)-1], "--") {
			words = append(words, "X") // a variable as a flag's value
		}
	}
	if !ok || len(words) == 0 || words[0] != "extract" {
		t.Fatalf("the Slurm script runs no lmpseg extract: %q", call)
	}
	sl := checkFlags(t, "slurm script", words)
	if _, set := sl["shard"]; set {
		t.Error("the Slurm script gives --shard: the array index would be ignored")
	}
}
