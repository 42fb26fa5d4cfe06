package onnx

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
)

// Options configures how a model is run.
type Options struct {
	// Feature is the tensor a Backbone returns: any graph output or
	// intermediate value. "" selects the model's first output.
	Feature string
	// Extra names more tensors a Backbone computes besides Feature, for
	// RunAll (a lifted decoder that reads several frozen tensors).
	Extra []string
	// Device names the execution provider: "cpu" (also ""), "cuda" or
	// "cuda:N" for GPU N; Devices lists the registered ones.
	Device string
	// Threads is the number of intra-op threads on the CPU; 0 lets
	// onnxruntime choose.
	Threads int
	// LibPath is passed to InitRuntime (the --ort-lib flag); "" uses the
	// default search.
	LibPath string
	// Spin lets onnxruntime's intra-op threads spin-wait for work after a
	// parallel section instead of sleeping (onnxruntime's own default).
	// lmpseg turns it off by default: the backbone runs beside Go work
	// (training's head step, decoding), and on a few cores the spinning
	// takes their CPU. On the 2-core development machine a demo backbone
	// pass (2x3x512x1024) took 30-40% less CPU and less wall time without
	// it (docs/performance.md).
	Spin bool
}

// liveValues counts the onnxruntime values created by this package and not
// yet destroyed; tests use it to check that nothing leaks.
var liveValues atomic.Int64

// Output is one output tensor of a Session run, converted to float32.
type Output struct {
	Name string
	// Type is the element type of the tensor as onnxruntime produced it,
	// for example "float32", "int64" or "uint8". Data holds the values
	// converted to float32 whatever Type is.
	Type  string
	Data  []float32
	Shape []int64
}

// Session runs an ONNX model with one float image input in onnxruntime.
// Its methods are safe for concurrent use.
type Session struct {
	mu       sync.RWMutex
	sess     *ort.DynamicAdvancedSession
	input    string
	inDims   []int64 // in the model's order, -1 for dimensions it leaves free
	nchwDims []int64 // the same in NCHW order
	info     InputInfo
	outputs  []string
	outTypes []string // per output, "float16" when cast to float32 in the graph
	device   string
	lib      string

	shapesMu sync.Mutex
	shapes   map[[4]int][]outShape // output shapes by NCHW input shape, learnt from runs
}

// OpenSession opens the model at path for running all its graph outputs
// (for example logits, probabilities or a label map of an exported model).
// o.Feature, when set, restricts the run to that one tensor, which may be
// intermediate.
func OpenSession(path string, o Options) (*Session, error) {
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	var outs []string
	if o.Feature != "" {
		outs = []string{o.Feature}
	}
	return newSession(m, outs, o, true)
}

// NewSession creates a session for m that computes the tensors named in
// outputs (nil: every graph output). When outputs are not the graph's
// outputs, the session's model has them as its only outputs and is pruned
// to the nodes feeding them, since onnxruntime runs everything that feeds a
// graph output. The runtime is initialized with o.LibPath when needed.
func NewSession(m *Model, outputs []string, o Options) (*Session, error) {
	return newSession(m, outputs, o, false)
}

// newSession creates the session; fromFile says that m is unchanged since
// Load, so that onnxruntime may read m.Path itself when nothing is exposed.
func newSession(m *Model, outputs []string, o Options, fromFile bool) (*Session, error) {
	if m == nil || m.Proto == nil {
		return nil, errors.New("onnx: nil model")
	}
	if err := Validate(m.Proto); err != nil {
		return nil, err
	}
	lib, err := InitRuntime(o.LibPath)
	if err != nil {
		return nil, err
	}
	g := m.Proto.GetGraph()
	ins := RealInputs(g)
	if len(ins) != 1 {
		names := make([]string, len(ins))
		for i, v := range ins {
			names[i] = v.GetName()
		}
		return nil, fmt.Errorf("onnx: the model has %d inputs (%s); one image input is needed", len(ins), strings.Join(names, ", "))
	}
	in := ins[0]
	info, nchw, err := imageInput(in)
	if err != nil {
		return nil, err
	}
	var dims []int64
	if sh := in.GetType().GetTensorType().GetShape(); sh != nil {
		for _, d := range sh.GetDim() {
			if v := d.GetDimValue(); v > 0 {
				dims = append(dims, v)
			} else {
				dims = append(dims, -1)
			}
		}
	}
	if len(outputs) == 0 {
		for _, v := range g.GetOutput() {
			outputs = append(outputs, v.GetName())
		}
	}
	// The session's model has exactly the requested outputs, pruned of
	// what does not feed them: onnxruntime runs every node feeding a
	// graph output, whether the run asks for it or not.
	same := len(outputs) == len(g.GetOutput())
	for i, v := range g.GetOutput() {
		if same && outputs[i] != v.GetName() {
			same = false
		}
	}
	prov, devID, err := lookupDevice(o.Device)
	if err != nil {
		return nil, err
	}
	dev := prov.Name
	if devID >= 0 {
		dev += ":" + strconv.Itoa(devID)
	}
	opts, err := sessionOptions(o, prov, devID, lib)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	// Outputs of type float16 are cast to float32 inside the graph.
	mm := m
	if !same {
		if mm, err = restrictOutputs(m, outputs); err != nil {
			return nil, err
		}
	}
	ortOuts, outTypes := outputs, make([]string, len(outputs))
	if types := tensorTypes(mm, outputs); hasType(types, int32(pb.TensorProto_FLOAT16)) {
		if mm == m {
			mm = shallowCopy(m)
		}
		ortOuts, outTypes = castFloat16Outputs(mm, outputs, types)
		same = false
	}
	var sess *ort.DynamicAdvancedSession
	if same && fromFile && m.Path != "" {
		sess, err = ort.NewDynamicAdvancedSession(m.Path, []string{in.GetName()}, ortOuts, opts)
	} else {
		if mm.HasExternalData() {
			if mm.Path == "" {
				return nil, errors.New("onnx: the model has tensors in external data files but no path to resolve them")
			}
			// Tensors in external files are resolved relative to
			// the model's folder although the session is created
			// from bytes.
			dir, aerr := filepath.Abs(mm.Dir())
			if aerr != nil {
				return nil, fmt.Errorf("onnx: %w", aerr)
			}
			if err := opts.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", dir); err != nil {
				return nil, fmt.Errorf("onnx: session options: %s", trimLines(err.Error()))
			}
		}
		b, merr := mm.Marshal()
		if merr != nil {
			return nil, merr
		}
		sess, err = ort.NewDynamicAdvancedSessionWithONNXData(b, []string{in.GetName()}, ortOuts, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("onnx: creating onnxruntime session: %s", ortMessage(err))
	}
	return &Session{sess: sess, input: in.GetName(), inDims: dims, nchwDims: nchw, info: info,
		outputs: outputs, outTypes: outTypes, device: dev, lib: lib}, nil
}

// restrictOutputs returns a copy of m whose graph outputs are names, in that
// order, pruned of what does not feed them. Intermediate tensors carry the
// type value_info records for them, or none, so that onnxruntime infers it
// and tensors of any type can be read.
func restrictOutputs(m *Model, names []string) (*Model, error) {
	g0 := m.Proto.GetGraph()
	seen := map[string]bool{}
	for _, n := range names {
		if !hasValue(g0, n) {
			return nil, missingTensorError(g0, n)
		}
		if seen[n] {
			return nil, fmt.Errorf("onnx: output %q asked for twice", n)
		}
		seen[n] = true
	}
	mm := shallowCopy(m)
	g := mm.Proto.Graph
	var outs []*pb.ValueInfoProto
	for _, n := range names {
		if hasTypedInfo(g0, n) {
			outs = append(outs, valueInfoFor(g0, n))
		} else {
			outs = append(outs, &pb.ValueInfoProto{Name: n})
		}
	}
	g.Output = outs
	prune(g, names)
	return mm, nil
}

// shallowCopy returns a copy of m for building a session's model: the model
// fields onnxruntime reads and the graph's lists are copied, but the nodes,
// initializers and value descriptions in the lists are shared with m, so no
// weights are copied. Callers may replace, add and drop list elements (as
// prune does) but must not change a shared element.
func shallowCopy(m *Model) *Model {
	p := m.Proto
	mp := &pb.ModelProto{
		IrVersion: p.GetIrVersion(), OpsetImport: slices.Clone(p.GetOpsetImport()),
		ProducerName: p.GetProducerName(), ProducerVersion: p.GetProducerVersion(),
		Domain: p.GetDomain(), ModelVersion: p.GetModelVersion(),
		MetadataProps: slices.Clone(p.GetMetadataProps()), Functions: slices.Clone(p.GetFunctions()),
	}
	g0 := p.GetGraph()
	mp.Graph = &pb.GraphProto{
		Name:              g0.GetName(),
		Node:              slices.Clone(g0.GetNode()),
		Initializer:       slices.Clone(g0.GetInitializer()),
		SparseInitializer: slices.Clone(g0.GetSparseInitializer()),
		Input:             slices.Clone(g0.GetInput()),
		Output:            slices.Clone(g0.GetOutput()),
		ValueInfo:         slices.Clone(g0.GetValueInfo()),
	}
	return &Model{Proto: mp, Path: m.Path}
}

// hasTypedInfo reports whether g records a type for name in its outputs or
// value_info.
func hasTypedInfo(g *pb.GraphProto, name string) bool {
	for _, v := range g.GetOutput() {
		if v.GetName() == name && v.GetType() != nil {
			return true
		}
	}
	for _, v := range g.GetValueInfo() {
		if v.GetName() == name && v.GetType() != nil {
			return true
		}
	}
	return false
}

// sessionOptions builds the onnxruntime options for o, appending the
// execution provider of o.Device.
func sessionOptions(o Options, p Provider, id int, lib string) (*ort.SessionOptions, error) {
	if o.Threads < 0 {
		return nil, fmt.Errorf("onnx: threads must be >= 0, got %d", o.Threads)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: session options: %s", trimLines(err.Error()))
	}
	if o.Threads > 0 {
		if err := opts.SetIntraOpNumThreads(o.Threads); err != nil {
			opts.Destroy()
			return nil, fmt.Errorf("onnx: setting %d threads: %s", o.Threads, trimLines(err.Error()))
		}
	}
	// Without spinning, onnxruntime's idle intra-op threads sleep instead of
	// spin-waiting for work, which leaves the cores to the Go work that runs
	// beside the backbone.
	spin := "0"
	if o.Spin {
		spin = "1"
	}
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", spin); err != nil {
		opts.Destroy()
		return nil, fmt.Errorf("onnx: session options: %s", trimLines(err.Error()))
	}
	if p.Append != nil {
		dev := o.Device
		if dev == "" {
			dev = p.Name
		}
		if err := p.Append(opts, DeviceSpec{Device: dev, ID: id, Lib: lib}); err != nil {
			opts.Destroy()
			if !strings.HasPrefix(err.Error(), "onnx: ") {
				return nil, fmt.Errorf("onnx: device %s: %w", dev, err)
			}
			return nil, err
		}
	}
	return opts, nil
}

// Input returns the name of the image input and its dimensions, -1 where
// the model leaves a dimension free (nil when the model gives no shape).
func (s *Session) Input() (string, []int64) {
	return s.input, append([]int64(nil), s.inDims...)
}

// Outputs returns the names of the tensors a run computes.
func (s *Session) Outputs() []string { return append([]string(nil), s.outputs...) }

// Device returns the device the session runs on: "cpu", "cuda", "cuda:N"
// or the name of another registered provider.
func (s *Session) Device() string { return s.device }

// Library returns the path of the onnxruntime library in use.
func (s *Session) Library() string { return s.lib }

// channels is the channel count of the input: the static value, or 3.
func (s *Session) channels() int { return s.info.Channels }

// checkInput validates a batch against the model's static input dimensions.
func (s *Session) checkInput(x []float32, n, c, h, w int) error {
	if n <= 0 || c <= 0 || h <= 0 || w <= 0 {
		return fmt.Errorf("onnx: bad batch shape [%d %d %d %d]", n, c, h, w)
	}
	if len(x) != n*c*h*w {
		return fmt.Errorf("onnx: batch of shape [%d %d %d %d] needs %d values, got %d", n, c, h, w, n*c*h*w, len(x))
	}
	given := []int64{int64(n), int64(c), int64(h), int64(w)}
	for i, d := range s.nchwDims {
		if i == 0 && d == 1 {
			continue // run image by image
		}
		if d > 0 && d != given[i] {
			what := ""
			if s.info.Layout == "nhwc" {
				what = " (NCHW order; the model's input is NHWC)"
			}
			return fmt.Errorf("onnx: input %q expects shape %s%s, given %s", s.input, dimsString(s.nchwDims), what, dimsString(given))
		}
	}
	return nil
}

func dimsString(d []int64) string {
	parts := make([]string, len(d))
	for i, v := range d {
		if v < 0 {
			parts[i] = "?"
		} else {
			parts[i] = strconv.FormatInt(v, 10)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Run runs the model on n NCHW float32 images of c channels and size h×w
// held in x and returns the outputs in the order of Outputs. The images are
// converted to the model's input layout and element type (see InputInfo);
// a model with a static batch of 1 is run image by image and its outputs
// stacked. Batches that do not match the model's static input dimensions
// are refused before onnxruntime is called. The onnxruntime values of a
// run are destroyed before Run returns; the one exception is an output that
// onnxruntime_go cannot convert (a scalar), after which the binding itself
// leaks the outputs following it. Each output's Data is new memory that the
// caller owns; RunInto reuses the caller's.
func (s *Session) Run(x []float32, n, c, h, w int) ([]Output, error) {
	return s.RunInto(nil, x, n, c, h, w)
}

// RunInto is Run with the caller's memory for the outputs: a float32 output
// k is written by onnxruntime straight into dst[k] when it has the capacity
// (dst may be shorter than the outputs, or nil), and its Output.Data is then
// dst[k] resliced. Other outputs, and all outputs of the first run at a new
// input shape (before the session knows the output shapes), get new memory.
// Passing the Data of the previous run's outputs back as dst makes a run at
// an unchanged shape allocate no output memory and copy nothing: the input
// x is handed to onnxruntime without a copy when the model takes NCHW
// float32, and onnxruntime writes the outputs in place.
func (s *Session) RunInto(dst [][]float32, x []float32, n, c, h, w int) ([]Output, error) {
	if err := s.checkInput(x, n, c, h, w); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sess == nil {
		return nil, errors.New("onnx: run on a closed session")
	}
	if s.info.StaticBatch != 1 || n == 1 {
		return s.run(dst, x, n, c, h, w)
	}
	per := c * h * w
	var res []Output
	sub := make([][]float32, len(s.outputs))
	for i := range n {
		if i == 0 {
			copy(sub, dst)
		}
		outs, err := s.run(sub, x[i*per:(i+1)*per], 1, c, h, w)
		if err != nil {
			return nil, fmt.Errorf("%w (image %d of the batch of %d, run one by one: the model's batch size is 1)", err, i, n)
		}
		if i == 0 {
			res = outs
			for k := range res {
				if len(res[k].Shape) == 0 || res[k].Shape[0] != 1 {
					return nil, fmt.Errorf("onnx: output %q has shape %s: it cannot be stacked for a batch of %d images (the model's batch size is 1)", res[k].Name, dimsString(res[k].Shape), n)
				}
				// The stacked output: dst[k] when image 0 went there and
				// it holds all n, else new memory.
				m := len(res[k].Data)
				if cap(res[k].Data) < n*m {
					res[k].Data = append(make([]float32, 0, n*m), res[k].Data...)
				}
			}
		} else {
			for k, o := range outs {
				if !slices.Equal(o.Shape, res[k].Shape) {
					return nil, fmt.Errorf("onnx: output %q changes shape between images (%s): it cannot be stacked", o.Name, dimsString(o.Shape))
				}
				m := len(o.Data)
				d := res[k].Data[:(i+1)*m]
				if m > 0 && &o.Data[0] != &d[i*m] {
					copy(d[i*m:], o.Data)
				}
				res[k].Data = d
			}
		}
		// Image i+1 goes straight to its place in the stacked outputs.
		for k := range sub {
			m := len(res[k].Data) / (i + 1)
			sub[k] = res[k].Data[(i+1)*m : (i+1)*m : min(cap(res[k].Data), (i+2)*m)]
		}
	}
	for k := range res {
		res[k].Shape[0] = int64(n)
	}
	return res, nil
}

// outShape is what a session learnt about one output at one input shape.
type outShape struct {
	shape []int64
	f32   bool // produced as float32, so it may be written into Go memory
}

// maxShapes bounds the input shapes a session remembers output shapes for.
const maxShapes = 32

// knownShapes returns the output shapes recorded for the input shape, nil
// before the first run at it.
func (s *Session) knownShapes(key [4]int) []outShape {
	s.shapesMu.Lock()
	defer s.shapesMu.Unlock()
	return s.shapes[key]
}

// recordShapes remembers the output shapes of a run at an input shape;
// outs nil forgets them.
func (s *Session) recordShapes(key [4]int, outs []outShape) {
	s.shapesMu.Lock()
	defer s.shapesMu.Unlock()
	if outs == nil {
		delete(s.shapes, key)
		return
	}
	if s.shapes == nil || len(s.shapes) >= maxShapes {
		s.shapes = map[[4]int][]outShape{}
	}
	s.shapes[key] = outs
}

// run runs one batch; s.mu is held. Once the output shapes at this input
// shape are known, float32 outputs are preallocated in Go memory (dst[k]
// when it has the capacity) for onnxruntime to write into.
func (s *Session) run(dst [][]float32, x []float32, n, c, h, w int) ([]Output, error) {
	key := [4]int{n, c, h, w}
	known := s.knownShapes(key)
	res, err := s.runWith(known, dst, x, n, c, h, w)
	if err != nil && known != nil {
		// An output whose shape does not follow from the input's
		// (data-dependent): forget the shapes and let onnxruntime
		// allocate.
		s.recordShapes(key, nil)
		res, err = s.runWith(nil, nil, x, n, c, h, w)
	}
	return res, err
}

func (s *Session) runWith(known []outShape, dst [][]float32, x []float32, n, c, h, w int) ([]Output, error) {
	in, err := s.inputValue(x, n, c, h, w)
	if err != nil {
		return nil, err
	}
	liveValues.Add(1)
	defer func() { in.Destroy(); liveValues.Add(-1) }()
	outs := make([]ort.Value, len(s.outputs))
	bufs := make([][]float32, len(s.outputs))
	defer func() { liveValues.Add(-int64(destroyAll(outs))) }()
	for k, o := range known {
		if !o.f32 {
			continue
		}
		size := 1
		for _, d := range o.shape {
			size *= int(d)
		}
		var buf []float32
		if k < len(dst) && cap(dst[k]) >= size {
			buf = dst[k][:size]
		} else {
			buf = make([]float32, size)
		}
		t, err := ort.NewTensor(ort.Shape(o.shape), buf)
		if err != nil {
			return nil, fmt.Errorf("onnx: output tensor %q: %s", s.outputs[k], trimLines(err.Error()))
		}
		liveValues.Add(1)
		outs[k], bufs[k] = t, buf
	}
	err = s.sess.Run([]ort.Value{in}, outs)
	for k, v := range outs {
		if bufs[k] == nil && !isNilValue(v) {
			liveValues.Add(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("onnx: running the model on a batch of shape [%d %d %d %d]: %s", n, c, h, w, ortMessage(err))
	}
	res := make([]Output, len(outs))
	var learnt []outShape
	if known == nil {
		learnt = make([]outShape, len(outs))
	}
	for i, v := range outs {
		var o Output
		if bufs[i] != nil {
			o = Output{Type: "float32", Data: bufs[i], Shape: slices.Clone(known[i].shape)}
		} else {
			var err error
			if o, err = convertOutput(v); err != nil {
				return nil, fmt.Errorf("onnx: output %q: %w", s.outputs[i], err)
			}
		}
		if learnt != nil {
			learnt[i] = outShape{shape: slices.Clone(o.Shape), f32: o.Type == "float32" && len(o.Shape) > 0}
		}
		o.Name = s.outputs[i]
		if s.outTypes[i] != "" {
			o.Type = s.outTypes[i]
		}
		res[i] = o
	}
	if learnt != nil {
		s.recordShapes([4]int{n, c, h, w}, learnt)
	}
	return res, nil
}

// ortMessage returns the first line of an onnxruntime_go error without the
// binding's generic prefixes.
func ortMessage(err error) string {
	msg := trimLines(err.Error())
	for _, p := range []string{"Error creating C session from file: ", "Error creating C session: ", "Error running network: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// isNilValue reports whether v is nil or holds a nil pointer (onnxruntime_go
// may store a typed nil when converting an output fails).
func isNilValue(v ort.Value) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// destroyAll destroys the non-nil values of vs and returns how many.
func destroyAll(vs []ort.Value) int {
	n := 0
	for i, v := range vs {
		if !isNilValue(v) {
			v.Destroy()
			n++
		}
		vs[i] = nil
	}
	return n
}

// convertOutput copies (or, for float32, takes over) the data of v.
func convertOutput(v ort.Value) (Output, error) {
	if v == nil {
		return Output{}, errors.New("missing value")
	}
	shape := []int64(v.GetShape().Clone())
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		// Outputs allocated by onnxruntime_go are copied into Go memory,
		// which stays valid after Destroy.
		return Output{Type: "float32", Data: t.GetData(), Shape: shape}, nil
	case *ort.Tensor[bool]:
		d := t.GetData()
		f := make([]float32, len(d))
		for i, b := range d {
			if b {
				f[i] = 1
			}
		}
		return Output{Type: "bool", Data: f, Shape: shape}, nil
	}
	for _, conv := range numericOutputs {
		if o, ok := conv(v); ok {
			o.Shape = shape
			return o, nil
		}
	}
	return Output{}, fmt.Errorf("unsupported output type %s", v.GetONNXType())
}

// numericOutputs convert a tensor of each Go number type but float32.
var numericOutputs = [...]func(ort.Value) (Output, bool){
	numericOutput[float64], numericOutput[int64], numericOutput[int32],
	numericOutput[uint8], numericOutput[int8], numericOutput[uint16],
	numericOutput[int16], numericOutput[uint32], numericOutput[uint64],
}

// numericOutput copies v to float32 if it is a tensor of T, naming its type
// as Go names T; ok is false for a tensor of another type.
func numericOutput[T number](v ort.Value) (o Output, ok bool) {
	t, ok := v.(*ort.Tensor[T])
	if !ok {
		return Output{}, false
	}
	var zero T
	return Output{Type: fmt.Sprintf("%T", zero), Data: toFloat32(t.GetData())}, true
}

type number interface {
	~float64 | ~int64 | ~int32 | ~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~uint64
}

func toFloat32[T number](d []T) []float32 {
	f := make([]float32, len(d))
	for i, v := range d {
		f[i] = float32(v)
	}
	return f
}

// Close destroys the onnxruntime session. It is safe to call more than
// once; Run after Close returns an error.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.sess = nil
	if err != nil {
		return fmt.Errorf("onnx: destroying session: %w", err)
	}
	return nil
}
