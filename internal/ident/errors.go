package ident

// Kinds of identifier, used as RuleError.Kind. They are the prefixes of the
// error messages, so they are worded for a reader of logs.
const (
	// KindResidentID is a resident identity card number (居民身份证号码).
	KindResidentID = "resident ID"
	// KindCreditCode is a unified social credit code (统一社会信用代码).
	KindCreditCode = "credit code"
	// KindOrgCode is an organisation code (组织机构代码), the body of a credit code.
	KindOrgCode = "organisation code"
	// KindDisabilityCert is a disability certificate number (残疾人证号).
	KindDisabilityCert = "disability certificate"
)

// Rule names, used as RuleError.Rule. They are short and stable so that
// callers can branch on them (and map them to user-facing text) without
// parsing messages.
const (
	// RuleLength means the identifier has the wrong number of characters.
	RuleLength = "length"
	// RuleCharset means a character is outside the identifier's character set.
	RuleCharset = "charset"
	// RuleAddressCode means the resident ID address code is not a plausible GB/T 2260 code.
	RuleAddressCode = "address code"
	// RuleBirthDate means the birth date is not a calendar date, is in the future or
	// is before 1880-01-01.
	RuleBirthDate = "birth date"
	// RuleSequence means the resident ID sequence number is out of range (builder only).
	RuleSequence = "sequence"
	// RuleCheckDigit means the resident ID check character does not match.
	RuleCheckDigit = "check digit"
	// RuleAuthority means the credit code registration authority code is unknown.
	RuleAuthority = "registration authority"
	// RuleOrgType means the credit code organisation type is not defined for its authority.
	RuleOrgType = "organisation type"
	// RuleDivision means the credit code administrative division code is not plausible.
	RuleDivision = "division code"
	// RuleCategory means the disability category digit is not 1-7.
	RuleCategory = "category"
	// RuleGrade means the disability grade digit is not 1-4.
	RuleGrade = "grade"
	// RuleReissue means the disability certificate reissue suffix is not B1-B9.
	RuleReissue = "reissue"
)

// RuleError reports which validation rule an identifier failed. Detail never
// contains the full identifier: it refers to positions and single characters,
// because these errors end up in logs and the identifiers are personal data.
type RuleError struct {
	Kind   string // which identifier: one of the Kind* constants
	Rule   string // which rule failed: one of the Rule* constants
	Detail string // human-readable explanation, e.g. "check digit is 5, expected X"
}

// Error formats the error as "kind: rule: detail".
func (e *RuleError) Error() string {
	return e.Kind + ": " + e.Rule + ": " + e.Detail
}

// ruleErr builds a *RuleError; a helper so that call sites stay one line.
func ruleErr(kind, rule, detail string) *RuleError {
	return &RuleError{Kind: kind, Rule: rule, Detail: detail}
}
