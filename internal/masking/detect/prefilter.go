package detect

// features are what one pass over the bytes learns, enough to rule most kinds out.
type features struct {
	digits      int  // decimal digits
	at          bool // '@'
	dash        bool // '-'
	plusOrParen bool // '+' or '('
	eyJ         bool // "eyJ", how a base64url JSON object starts
	awsPrefix   bool // "AKIA", "ASIA", "ABIA" or "ACCA"
	pemBegin    bool // "-----BEGIN "
	ibanStart   bool // two upper-case letters followed by two digits
}

func scan(b []byte) features {
	var f features
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			f.digits++
		case c == '@':
			f.at = true
		case c == '-':
			f.dash = true
			if !f.pemBegin && hasAt(b, i, "-----BEGIN ") {
				f.pemBegin = true
			}
		case c == '+' || c == '(':
			f.plusOrParen = true
		case c == 'e':
			if !f.eyJ && hasAt(b, i, "eyJ") {
				f.eyJ = true
			}
		case c >= 'A' && c <= 'Z':
			if c == 'A' && !f.awsPrefix && i+4 <= len(b) {
				switch string(b[i : i+4]) {
				case "AKIA", "ASIA", "ABIA", "ACCA":
					f.awsPrefix = true
				}
			}
			if !f.ibanStart && i+4 <= len(b) && upper(b[i+1]) && digit(b[i+2]) && digit(b[i+3]) {
				f.ibanStart = true
			}
		}
	}
	return f
}

func (f features) may(k Kind) bool {
	switch k {
	case Card:
		return f.digits >= 13
	case SSN:
		return f.digits >= 9 && f.dash
	case Email:
		return f.at
	case Phone:
		return f.digits >= 10
	case IBAN:
		return f.ibanStart && f.digits >= 4
	case JWT:
		return f.eyJ
	case AWSKey:
		return f.awsPrefix
	case PrivateKey:
		return f.pemBegin
	}
	return false
}

func hasAt(b []byte, i int, s string) bool {
	return i+len(s) <= len(b) && string(b[i:i+len(s)]) == s
}

func digit(c byte) bool { return c >= '0' && c <= '9' }
func upper(c byte) bool { return c >= 'A' && c <= 'Z' }
