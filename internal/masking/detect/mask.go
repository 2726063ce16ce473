package detect

// maskHit overwrites a hit in place with ASCII of the same length. Cards and SSNs keep
// their last four digits (as receipts and statements show them), IBANs their country code
// and last four characters, emails their domain; phone numbers lose every digit and
// secrets every character. Separators are kept, so the shape stays recognisable.
func maskHit(b []byte, k Kind) {
	switch k {
	case Card, SSN:
		keepLastDigits(b, 4)
	case Email:
		for i := 0; i < len(b) && b[i] != '@'; i++ {
			b[i] = 'x'
		}
	case Phone:
		for i, c := range b {
			if digit(c) {
				b[i] = 'X'
			}
		}
	case IBAN:
		keep := 0
		for i := len(b) - 1; i >= 2; i-- {
			if b[i] == ' ' {
				continue
			}
			if keep < 4 {
				keep++
				continue
			}
			b[i] = 'X'
		}
	default:
		for i, c := range b {
			if c != '-' && c != '.' && c != '\n' && c != '\r' && c != ' ' {
				b[i] = 'X'
			}
		}
	}
}

func keepLastDigits(b []byte, n int) {
	for i := len(b) - 1; i >= 0; i-- {
		if !digit(b[i]) {
			continue
		}
		if n > 0 {
			n--
			continue
		}
		b[i] = 'X'
	}
}
