package detect

import (
	"math/big"
	"regexp"
)

// finders append the hits of one kind.
var finders = [numKinds]func([]byte, []Hit) []Hit{
	Card:       findCards,
	SSN:        matcher(SSN, regexp.MustCompile(`\b([0-8]\d{2})-(\d{2})-(\d{4})\b`), validSSN),
	Email:      matcher(Email, regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}`), nil),
	Phone:      matcher(Phone, regexp.MustCompile(`(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)|\b\d{2,4})[ .\-]\d{3,4}[ .\-]\d{3,4}\b`), validPhone),
	IBAN:       matcher(IBAN, regexp.MustCompile(`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b`), validIBAN),
	JWT:        matcher(JWT, regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*`), nil),
	AWSKey:     matcher(AWSKey, regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b`), nil),
	PrivateKey: matcher(PrivateKey, regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)`), nil),
}

func matcher(k Kind, re *regexp.Regexp, valid func([]byte) bool) func([]byte, []Hit) []Hit {
	return func(b []byte, hits []Hit) []Hit {
		for _, m := range re.FindAllIndex(b, -1) {
			if valid == nil || valid(b[m[0]:m[1]]) {
				hits = append(hits, Hit{Kind: k, Start: m[0], End: m[1]})
			}
		}
		return hits
	}
}

// cardRE finds 13 to 19 digits written as cards are: contiguous, in groups of four
// separated all by spaces or all by dashes, or in American Express's 4-6-5 grouping.
var cardRE = regexp.MustCompile(`\b(?:\d{13,19}|\d{4} \d{4} \d{4} \d{1,7}|\d{4}-\d{4}-\d{4}-\d{1,7}|\d{4}[ \-]\d{6}[ \-]\d{5})\b`)

func findCards(b []byte, hits []Hit) []Hit {
	for _, m := range cardRE.FindAllIndex(b, -1) {
		if luhn(b[m[0]:m[1]]) {
			hits = append(hits, Hit{Kind: Card, Start: m[0], End: m[1]})
		}
	}
	return hits
}

// luhn checks the Luhn checksum of the digits in b (separators skipped).
func luhn(b []byte) bool {
	sum, n := 0, 0
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if !digit(c) {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n >= 13 && n <= 19 && sum%10 == 0
}

// validSSN rejects numbers the SSA never issues: area 000 and 666 (9xx is excluded by
// the expression), group 00, serial 0000.
func validSSN(b []byte) bool {
	s := string(b)
	return s[0:3] != "000" && s[0:3] != "666" && s[4:6] != "00" && s[7:11] != "0000"
}

// validPhone requires 10 to 15 digits in all.
func validPhone(b []byte) bool {
	n := 0
	for _, c := range b {
		if digit(c) {
			n++
		}
	}
	return n >= 10 && n <= 15
}

// validIBAN checks ISO 13616's mod-97 checksum: the first four characters moved to the end,
// letters as 10..35, the number mod 97 must be 1.
func validIBAN(b []byte) bool {
	var s []byte
	for _, c := range b {
		if c != ' ' {
			s = append(s, c)
		}
	}
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	s = append(s[4:], s[:4]...)
	var num []byte
	for _, c := range s {
		switch {
		case digit(c):
			num = append(num, c)
		case upper(c):
			v := int(c-'A') + 10
			num = append(num, byte('0'+v/10), byte('0'+v%10))
		default:
			return false
		}
	}
	n, ok := new(big.Int).SetString(string(num), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}
