package disclosure

// SuppressRate reports whether a rate (numerator / denominator at one unit)
// is withheld: when either count is suppressed. Publishing it would undo the
// suppression, since with the other count published the suppressed one is the
// rate times (or divided by) it.
func SuppressRate(numeratorSuppressed, denominatorSuppressed bool) bool {
	return numeratorSuppressed || denominatorSuppressed
}

// RateSuppressed is SuppressRate plus a rule on the denominator itself, for a
// denominator that is not a suppressed indicator of its own (a population base
// taken from the register, say): the rate is also withheld when the
// denominator is below the threshold, because a rate over a handful of persons
// is their attribute in all but name (1 of 3 is 33.3 %), and when it is 0,
// where the rate is undefined. A negative Threshold, which Suppress rejects,
// counts as the default here.
func (r Rule) RateSuppressed(denominator int64, numeratorSuppressed, denominatorSuppressed bool) bool {
	th, err := r.threshold()
	if err != nil {
		th = DefaultThreshold
	}
	return SuppressRate(numeratorSuppressed, denominatorSuppressed) || denominator < th
}
