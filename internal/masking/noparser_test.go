package masking

import (
	"context"
	"errors"

	"github.com/sluicehq/sluice/internal/policy/sqlparse"
)

// noParser is a Parser that is never called: for checks that fail before parsing.
type noParser struct{}

func (noParser) Parse(context.Context, string) (*sqlparse.Result, error) {
	return nil, errors.New("not a parser")
}
