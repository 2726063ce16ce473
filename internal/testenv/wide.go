package testenv

// WideTable creates and fills the masking benchmarks' result table "wide": 1,000,000 rows
// of 10 columns (integers, text, numeric, a date), with an SSN-shaped "ssn" and an
// address-shaped "email" column for masking rules to apply to. The masking package's
// benchmark and the end-to-end one measure the same rows.
const WideTable = `
CREATE TABLE wide (id int, a int, b int, c text, d text, e numeric, f date, g text, ssn text, email text);
INSERT INTO wide SELECT i, i * 2, i % 1000, 'text value ' || i, md5(i::text), i / 3.0,
	date '2024-01-01' + i % 365, 'constant',
	lpad((i % 900)::text, 3, '1') || '-' || lpad((i % 99)::text, 2, '0') || '-' || lpad((i % 9999)::text, 4, '0'),
	'user' || i || '@example.com'
	FROM generate_series(1, 1000000) i;
`
