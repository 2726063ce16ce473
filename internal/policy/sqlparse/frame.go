package sqlparse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The pipe protocol between the engine and a worker: one request, then one response.
//
//	request:  u32 length | SQL text
//	response: u8 status  | u32 length | payload
//	          status ok:    u64 fingerprint | ParseResult protobuf
//	          status error: i32 cursor position | message
const (
	statusOK    byte = 0
	statusError byte = 1
)

// maxResponse caps what the engine reads back from a worker, so a confused or compromised
// worker cannot make it allocate without bound.
const maxResponse = 256 << 20

func writeFrame(w io.Writer, status byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = status
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readFrame(r io.Reader, limit int) (status byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if int64(n) > int64(limit) {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds the limit of %d", n, limit)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

func writeRequest(w io.Writer, sql string) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(sql)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := io.WriteString(w, sql)
	return err
}

func readRequest(r io.Reader, limit int) (string, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(limit) {
		return "", fmt.Errorf("request of %d bytes exceeds the limit of %d", n, limit)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf), nil
}
