//go:build !race

package cli_test

// raceBuild is true when the tests run under the race detector; the lmpseg binary the
// subprocess tests run is then built with -race too.
const raceBuild = false
