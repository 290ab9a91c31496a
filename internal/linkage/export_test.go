package linkage

// IndexVersion is the version of the master index the linker holds in
// memory, 0 for none (for the tests of its release).
func (l *Linker) IndexVersion() int64 { return l.indexVersion() }
