package data

import (
	"fmt"
	"runtime"
	"sync"
)

// LabelHistogram counts the pixels of each class over the whole dataset,
// decoding labels in parallel (GOMAXPROCS goroutines, one label at a time
// each). Ignored pixels are not counted. It stops at the first failing
// sample (in index order among those that failed) and returns its error.
func LabelHistogram(ds Dataset, numClasses int) ([]int64, error) {
	if numClasses <= 0 {
		return nil, fmt.Errorf("data: LabelHistogram: %d classes", numClasses)
	}
	n := ds.Len()
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	next := make(chan int)
	hists := make([][]int64, workers)
	errs := make([]error, n)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var once sync.Once
	for w := 0; w < workers; w++ {
		hists[w] = make([]int64, numClasses)
		wg.Add(1)
		go func(h []int64) {
			defer wg.Done()
			for i := range next {
				lab, err := LoadLabel(ds, i)
				if err != nil {
					errs[i] = err
					once.Do(func() { close(stop) })
					continue
				}
				for _, v := range lab {
					if v >= 0 && int(v) < numClasses {
						h[v]++
					}
				}
			}
		}(hists[w])
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-stop:
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	total := make([]int64, numClasses)
	for _, h := range hists {
		for c, v := range h {
			total[c] += v
		}
	}
	return total, nil
}

// LoadLabel returns the label map of sample i of ds, without decoding the
// image when ds is a LabelLoader.
func LoadLabel(ds Dataset, i int) ([]int32, error) {
	if ll, ok := ds.(LabelLoader); ok {
		lab, _, _, err := ll.LoadLabel(i)
		return lab, err
	}
	s, err := ds.Load(i)
	if err != nil {
		return nil, err
	}
	return s.Label, nil
}
