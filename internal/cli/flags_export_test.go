package cli

// FlagValues gives the external tests flagValues.
var FlagValues = flagValues
