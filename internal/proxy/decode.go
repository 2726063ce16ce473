package proxy

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// inspectableClient are the client message types an Inspector may ask for: those a
// statement decision can be taken on, and for which a denial is implemented, and Sync,
// which an inspector following a pipeline needs to see (it cannot be refused).
const inspectableClient = "QPBEDCS"

// clientDecoder decodes the inspectable client messages into reused values (one per type,
// as pgproto3.Backend does), so inspecting a message allocates only what its Decode does.
type clientDecoder struct {
	query    pgproto3.Query
	parse    pgproto3.Parse
	bind     pgproto3.Bind
	execute  pgproto3.Execute
	describe pgproto3.Describe
	close    pgproto3.Close
	sync     pgproto3.Sync
}

func (d *clientDecoder) decode(typ byte, body []byte) (pgproto3.FrontendMessage, error) {
	var msg pgproto3.FrontendMessage
	switch typ {
	case 'Q':
		msg = &d.query
	case 'P':
		msg = &d.parse
	case 'B':
		msg = &d.bind
	case 'E':
		msg = &d.execute
	case 'D':
		msg = &d.describe
	case 'C':
		msg = &d.close
	case 'S':
		msg = &d.sync
	default:
		return nil, fmt.Errorf("%w: client message %q is not inspectable", errMalformed, typ)
	}
	if err := msg.Decode(body); err != nil {
		return nil, fmt.Errorf("%w: client message %q: %v", errMalformed, typ, err)
	}
	return msg, nil
}

// serverDecoder decodes server messages for an Inspector (and ErrorResponse for denials)
// into reused values.
type serverDecoder struct {
	bindComplete         pgproto3.BindComplete
	closeComplete        pgproto3.CloseComplete
	commandComplete      pgproto3.CommandComplete
	copyBothResponse     pgproto3.CopyBothResponse
	copyData             pgproto3.CopyData
	copyDone             pgproto3.CopyDone
	copyInResponse       pgproto3.CopyInResponse
	copyOutResponse      pgproto3.CopyOutResponse
	dataRow              pgproto3.DataRow
	emptyQueryResponse   pgproto3.EmptyQueryResponse
	errorResponse        pgproto3.ErrorResponse
	functionCallResponse pgproto3.FunctionCallResponse
	noData               pgproto3.NoData
	noticeResponse       pgproto3.NoticeResponse
	notificationResponse pgproto3.NotificationResponse
	parameterDescription pgproto3.ParameterDescription
	parameterStatus      pgproto3.ParameterStatus
	parseComplete        pgproto3.ParseComplete
	portalSuspended      pgproto3.PortalSuspended
	readyForQuery        pgproto3.ReadyForQuery
	rowDescription       pgproto3.RowDescription
}

func (d *serverDecoder) decode(typ byte, body []byte) (pgproto3.BackendMessage, error) {
	var msg pgproto3.BackendMessage
	switch typ {
	case '2':
		msg = &d.bindComplete
	case '3':
		msg = &d.closeComplete
	case 'C':
		msg = &d.commandComplete
	case 'W':
		msg = &d.copyBothResponse
	case 'd':
		msg = &d.copyData
	case 'c':
		msg = &d.copyDone
	case 'G':
		msg = &d.copyInResponse
	case 'H':
		msg = &d.copyOutResponse
	case 'D':
		msg = &d.dataRow
	case 'I':
		msg = &d.emptyQueryResponse
	case 'E':
		msg = &d.errorResponse
	case 'V':
		msg = &d.functionCallResponse
	case 'n':
		msg = &d.noData
	case 'N':
		msg = &d.noticeResponse
	case 'A':
		msg = &d.notificationResponse
	case 't':
		msg = &d.parameterDescription
	case 'S':
		msg = &d.parameterStatus
	case '1':
		msg = &d.parseComplete
	case 's':
		msg = &d.portalSuspended
	case 'Z':
		msg = &d.readyForQuery
	case 'T':
		msg = &d.rowDescription
	default:
		return nil, fmt.Errorf("%w: unexpected server message %q", errMalformed, typ)
	}
	if err := msg.Decode(body); err != nil {
		return nil, fmt.Errorf("%w: server message %q: %v", errMalformed, typ, err)
	}
	return msg, nil
}
