package wif

// Limits STS and IAM place on a provider's mapping and condition (IAM v1
// WorkloadIdentityPoolProvider field documentation).
const (
	// MaxSubjectBytes is the longest google.subject STS accepts: "Cannot
	// exceed 127 bytes."
	MaxSubjectBytes = 127
	// MaxCustomAttributes is how many attribute.NAME keys a mapping may
	// hold: "You can define a maximum of 50 custom attributes."
	MaxCustomAttributes = 50
	// MaxAttributeNameLen bounds NAME in attribute.NAME: "The maximum length
	// of a mapped attribute key is 100 characters, and the key may only
	// contain the characters [a-z0-9_]."
	MaxAttributeNameLen = 100
	// MaxConditionLen bounds the attribute condition: "The maximum length of
	// the attribute condition expression is 4096 characters."
	MaxConditionLen = 4096
)
