package modelgen

//go:generate go run ./cmd/genmodels -out ../../testdata/models
