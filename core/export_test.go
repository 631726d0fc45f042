package core

// SaveBlockCVs exposes saveBlockCVs to the external tests.
var SaveBlockCVs = saveBlockCVs
