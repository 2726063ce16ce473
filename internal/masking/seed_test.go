package masking

// seedSchema creates the tables the masking tests read, with known sensitive values.
const seedSchema = `
CREATE TABLE customers (
	id int PRIMARY KEY,
	name text NOT NULL,
	email varchar(64),
	ssn char(11),
	card text,
	phone text,
	notes text,
	api_key text,
	balance int8,
	profile jsonb
);
INSERT INTO customers VALUES
	(1, 'Alice Smith', 'alice.smith@example.com', '123-45-6789', '4111111111111111', '+1 415-555-0123',
	 'VIP, call before noon', 'sk_live_hunter2xyz', 1234, '{"tier": "gold"}'),
	(2, 'Bob Jones', 'bob.jones@example.org', '234-56-7890', '5500005555555559', '+1 212-555-0456',
	 'card on file 4012888888881881', 'sk_live_opensesame', 2500, '{"tier": "silver"}');
CREATE TABLE orders (id int, customer_id int, total numeric(10,2), shipped_to text);
INSERT INTO orders VALUES (10, 1, 99.50, 'Paris'), (11, 2, 12.00, 'Berlin');
CREATE VIEW contacts AS SELECT id, name, email, ssn FROM customers;
CREATE VIEW ssn_digits AS SELECT id, replace(ssn, '-', '') AS digits FROM customers;
CREATE TABLE archive (id int, ssn char(11));
CREATE TABLE plain (id int, note text);
CREATE SCHEMA hr;
CREATE TABLE hr.staff (id int, name text, ssn text);
INSERT INTO hr.staff VALUES (1, 'Carol White', '345-67-8901');
CREATE TABLE events (id int, at date, payload text) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events VALUES (1, '2024-05-01', 'token sk_live_partition99');
CREATE FUNCTION lookup_key(int) RETURNS text LANGUAGE sql AS 'SELECT api_key FROM customers WHERE id = $1';
CREATE FUNCTION customer_ssn(int) RETURNS text LANGUAGE sql AS 'SELECT ssn FROM customers WHERE id = $1';
`

// seedRules masks the seeded columns.
const seedRules = `
tags:
  contact: ["public.customers.email"]
rules:
  - name: ssn
    columns: ["*.*.ssn"]
    strategy: partial
    keep_last: 4
    clear: [auditors]
  - name: card
    columns: ["public.customers.card"]
    strategy: hash
  - name: contact-email
    tags: [contact]
    strategy: email
  - name: phone
    columns: ["public.customers.phone"]
    strategy: redact
    value: "+0 000-000-0000"
  - name: api-keys
    columns: ["public.customers.api_key", "public.events.payload"]
    strategy: redact
  - name: notes
    columns: ["public.customers.notes"]
    strategy: detect
    fallback: detect
  - name: balance
    columns: ["public.customers.balance"]
    strategy: partial
    keep_last: 2
`

// secrets are the seeded raw values that must never reach a client without clear access.
var secrets = []string{
	"123-45-6789", "234-56-7890", "345-67-8901", "123456789", "234567890",
	"4111111111111111", "5500005555555559", "4012888888881881",
	"alice.smith", "bob.jones",
	"415-555-0123", "212-555-0456",
	"sk_live_hunter2xyz", "sk_live_opensesame", "sk_live_partition99", "hunter2", "opensesame",
}

// typedSchema holds one masked column of each type family a strategy shapes values for.
const typedSchema = `
CREATE DOMAIN code AS text;
CREATE TABLE typed_hash (id int, u uuid, n numeric, b bytea, i2 int2, i4 int4, i8 int8,
	j json, jb jsonb, v8 varchar(8), c4 char(4), dom code, t text);
INSERT INTO typed_hash VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 123.45, '\xdeadbeef', 7, 70000,
	9000000000, '{"k": "v"}', '{"k": "v"}', 'abcdefgh', 'wxyz', 'C-0042', 'plain text');
CREATE TABLE typed_partial (id int, i4 int4, i8 int8, n numeric, v8 varchar(8), t text);
INSERT INTO typed_partial VALUES (1, 12345678, -9876543210, 4111.1111, 'abcdefgh', 'Ünïcödé strîng');
CREATE TABLE typed_redact (id int, d date, i4 int4, u uuid, t text);
INSERT INTO typed_redact VALUES (1, '1999-12-31', 42, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'gone');
`

const typedRules = `
rules:
  - name: hashed
    columns: ["public.typed_hash.*"]
    strategy: hash
  - name: partial
    columns: ["public.typed_partial.*"]
    strategy: partial
    keep_first: 1
    keep_last: 2
  - name: redact-date
    columns: ["public.typed_redact.d"]
    strategy: redact
    value: "2000-01-01"
  - name: redact-int
    columns: ["public.typed_redact.i4"]
    strategy: redact
    value: "0"
  - name: redact-null
    columns: ["public.typed_redact.u", "public.typed_redact.t"]
    strategy: redact
`
