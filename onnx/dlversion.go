package onnx

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef struct {
	const void *(*GetApi)(unsigned int version);
	const char *(*GetVersionString)(void);
} lmpsegOrtApiBase;

typedef const lmpsegOrtApiBase *(*lmpsegGetApiBaseFn)(void);

// lmpsegLibVersion opens the library at path, reads onnxruntime's version
// string into buf and reports 0, or returns a negative code: -1 dlopen
// failed, -2 no OrtGetApiBase, -3 no version. *handle receives the handle.
static int lmpsegLibVersion(const char *path, char *buf, int n, void **handle) {
	void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
	*handle = h;
	if (!h) return -1;
	lmpsegGetApiBaseFn f = (lmpsegGetApiBaseFn)dlsym(h, "OrtGetApiBase");
	if (!f) return -2;
	const lmpsegOrtApiBase *base = f();
	if (!base || !base->GetVersionString) return -3;
	const char *v = base->GetVersionString();
	if (!v) return -3;
	int i = 0;
	for (; i < n - 1 && v[i]; i++) buf[i] = v[i];
	buf[i] = 0;
	return 0;
}

static const char *lmpsegDlerror(void) {
	const char *e = dlerror();
	return e ? e : "unknown error";
}

static void lmpsegDlclose(void *h) {
	if (h) dlclose(h);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// libVersion returns the version of the onnxruntime library at path
// without initializing it. On success the library stays loaded (the
// binding opens it again); close releases it when it is not wanted.
func libVersion(path string) (version string, close func(), err error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	buf := (*C.char)(C.malloc(64))
	defer C.free(unsafe.Pointer(buf))
	var h unsafe.Pointer
	rc := C.lmpsegLibVersion(cpath, buf, 64, &h)
	closeFn := func() { C.lmpsegDlclose(h) }
	switch rc {
	case -1:
		return "", func() {}, fmt.Errorf("%s", trimLines(C.GoString(C.lmpsegDlerror())))
	case -2:
		closeFn()
		return "", func() {}, fmt.Errorf("%s has no OrtGetApiBase symbol: not an onnxruntime library", path)
	case -3:
		closeFn()
		return "", func() {}, fmt.Errorf("%s does not report a version", path)
	}
	return C.GoString(buf), closeFn, nil
}
