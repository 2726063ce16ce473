package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgproto3"
)

// pipeBufferSize sizes the read and write buffers of each direction. A writer flushes by
// itself when this much is pending, which is the "64 KB pending" half of the flush rule.
const pipeBufferSize = 64 << 10

// keptBodySize is the largest message body buffer a pipe keeps between messages; larger
// ones are allocated for one message and left to the garbage collector, so one huge
// statement does not pin its memory for the rest of the session.
const keptBodySize = 64 << 10

// errMalformed marks errors caused by a peer sending bytes that are not a valid message.
var errMalformed = errors.New("malformed message")

// pipe is one direction of the relay: messages are read from src and written to dst. It
// moves raw frames (5-byte header, then the body streamed through) and decodes nothing
// itself. dst is flushed whenever src has nothing more buffered before a read would block,
// so the peer receives a batch exactly when the sender paused (after a Sync, a Flush, a
// ReadyForQuery, ...) and never waits for bytes that sit in our buffer.
type pipe struct {
	src  *bufio.Reader
	dst  *bufio.Writer
	body []byte // reused body buffer for messages that are decoded
	enc  []byte // reused encoding buffer for messages the proxy writes itself
	// sent counts the message bytes written to dst; read from other goroutines (the
	// client-bound count sizes results for the audit outcome records).
	sent atomic.Int64
}

// await makes sure n bytes can be read without blocking with output still pending.
func (p *pipe) await(n int) error {
	if p.src.Buffered() < n && p.dst.Buffered() > 0 {
		return p.dst.Flush()
	}
	return nil
}

// header reads the next message's type and body length.
func (p *pipe) header() (typ byte, n int, err error) {
	if err := p.await(5); err != nil {
		return 0, 0, err
	}
	h, err := p.src.Peek(5)
	if err != nil {
		if errors.Is(err, io.EOF) && len(h) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	typ, length := h[0], int32(binary.BigEndian.Uint32(h[1:]))
	_, _ = p.src.Discard(5)
	if length < 4 {
		return typ, 0, fmt.Errorf("%w: message %q has invalid length %d", errMalformed, typ, length)
	}
	return typ, int(length) - 4, nil
}

// writeHeader writes a message header to dst, encoded in dst's free space: a header
// array of its own would escape to the heap through the writer, once per message.
func (p *pipe) writeHeader(typ byte, n int) error {
	h := binary.BigEndian.AppendUint32(append(p.dst.AvailableBuffer(), typ), uint32(n+4))
	_, err := p.dst.Write(h)
	p.sent.Add(int64(len(h)))
	return err
}

// copyBody streams n body bytes from src to dst without holding the whole body.
func (p *pipe) copyBody(n int) error {
	for n > 0 {
		if err := p.await(1); err != nil {
			return err
		}
		if p.src.Buffered() == 0 {
			if _, err := p.src.Peek(1); err != nil {
				return unexpectedEOF(err)
			}
		}
		chunk, _ := p.src.Peek(min(n, p.src.Buffered()))
		if _, err := p.dst.Write(chunk); err != nil {
			return err
		}
		p.sent.Add(int64(len(chunk)))
		_, _ = p.src.Discard(len(chunk))
		n -= len(chunk)
	}
	return nil
}

// forward relays a message whose header has been read, unchanged.
func (p *pipe) forward(typ byte, n int) error {
	if err := p.writeHeader(typ, n); err != nil {
		return err
	}
	return p.copyBody(n)
}

// skip discards n body bytes from src.
func (p *pipe) skip(n int) error {
	if err := p.await(n); err != nil {
		return err
	}
	_, err := p.src.Discard(n)
	return unexpectedEOF(err)
}

// readBody reads n body bytes into a buffer that is valid until the next readBody.
func (p *pipe) readBody(n int) ([]byte, error) {
	if err := p.await(n); err != nil {
		return nil, err
	}
	buf := p.body
	if n > cap(buf) {
		buf = make([]byte, n)
		if n <= keptBodySize {
			p.body = buf
		}
	}
	buf = buf[:n]
	if _, err := io.ReadFull(p.src, buf); err != nil {
		return nil, unexpectedEOF(err)
	}
	return buf, nil
}

// write writes a complete message (header and body) to dst.
func (p *pipe) write(typ byte, body []byte) error {
	if err := p.writeHeader(typ, len(body)); err != nil {
		return err
	}
	_, err := p.dst.Write(body)
	p.sent.Add(int64(len(body)))
	return err
}

// send encodes msg and writes it to dst.
func (p *pipe) send(msg pgproto3.Message) error {
	b, err := msg.Encode(p.enc[:0])
	if err != nil {
		return err
	}
	if cap(b) <= keptBodySize {
		p.enc = b
	}
	_, err = p.dst.Write(b)
	p.sent.Add(int64(len(b)))
	return err
}

// unexpectedEOF turns an EOF in the middle of a message into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
