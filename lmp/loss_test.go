package lmp

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestOptionsJSON pins the JSON form of Options, which run folders store.
func TestOptionsJSON(t *testing.T) {
	o := Options{P: 1.7, Ratio: 0.25, PerBatch: true, Gamma: 2, Thresh: 0.7, MinKept: 100, TopK: 0.3, ClassWeights: []float32{0.5, 2}}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"P":1.7,"Ratio":0.25,"PerBatch":true,"Gamma":2,"Thresh":0.7,"MinKept":100,"TopK":0.3,"ClassWeights":[0.5,2]}`
	if string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	var back Options
	if err := json.Unmarshal([]byte(want), &back); err != nil || !reflect.DeepEqual(back, o) {
		t.Errorf("decoded %+v (error %v), want %+v", back, err, o)
	}
}
