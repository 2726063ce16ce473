package masking

// class groups column types by how a strategy can keep their values valid.
type class uint8

const (
	classOther class = iota
	classString
	classInt2
	classInt4
	classInt8
	classNumeric
	classUUID
	classBytea
	classJSON
	classJSONB
)

// Built-in type OIDs (pg_type.h), stable across PostgreSQL versions.
var builtinClasses = map[uint32]class{
	25:   classString, // text
	1043: classString, // varchar
	1042: classString, // bpchar
	19:   classString, // name
	705:  classString, // unknown (untyped literals)
	21:   classInt2,
	23:   classInt4,
	20:   classInt8,
	1700: classNumeric,
	2950: classUUID,
	17:   classBytea,
	114:  classJSON,
	3802: classJSONB,
}

// opaqueToDetectors are types whose values cannot hold the text content detectors look
// for (numbers, times, booleans, addresses, uuids and arrays of them; bytea, whose text form
// is hex): content detection skips them, which spares decoding rows of computed columns of
// these types.
var opaqueToDetectors = map[uint32]bool{
	16: true, 17: true, 20: true, 21: true, 23: true, 26: true, 28: true, 700: true, 701: true,
	790: true, 1700: true, 1082: true, 1083: true, 1114: true, 1184: true, 1186: true, 1266: true,
	2950: true, 650: true, 869: true, 829: true, 774: true, 3220: true, 1560: true, 1562: true,
	// their arrays
	1000: true, 1001: true, 1005: true, 1007: true, 1016: true, 1021: true, 1022: true, 1028: true,
	1231: true, 1182: true, 1183: true, 1115: true, 1185: true, 1187: true, 2951: true, 651: true,
	1041: true, 1040: true,
}

// typeLimit is the most characters a value of a string type with this typmod may hold: n
// for varchar(n) and char(n), 63 for name, 0 for no limit.
func typeLimit(oid uint32, typmod int32) int {
	switch oid {
	case 1043, 1042:
		if typmod > 4 {
			return int(typmod - 4)
		}
	case 19:
		return 63
	}
	return 0
}
