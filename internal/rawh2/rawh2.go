// Package rawh2 speaks just enough HTTP/2 to start gRPC calls that never
// send their request: the stuck and flooding clients that tests of a
// server's limits need, and that a well-behaved gRPC client cannot be. It
// can also send a call's request later, at a moment the test chooses (a
// call in flight while a server shuts down), and read its answer.
package rawh2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Conn is a client's HTTP/2 connection to a gRPC server.
type Conn struct {
	c       net.Conn
	fr      *http2.Framer
	next    uint32 // the next stream ID: clients use odd ones
	ping    byte
	pinged  time.Time         // when the last PING was answered
	replies map[uint32]*Reply // what each stream has received so far
	expires time.Time         // Open's deadline
}

// Open starts HTTP/2 on c: the client preface and an empty SETTINGS frame.
// Reads and writes on c fail after deadline, so that a test cannot hang.
func Open(c net.Conn, deadline time.Time) (*Conn, error) {
	if err := c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return nil, err
	}
	fr := http2.NewFramer(c, c)
	// Header blocks are decoded as they arrive, every one of them, since
	// HPACK's table depends on all that came before.
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	return &Conn{c: c, fr: fr, next: 1, replies: map[uint32]*Reply{}, expires: deadline}, fr.WriteSettings()
}

// Start sends the headers of a gRPC call to method on a new stream, and
// nothing after them: the server waits for a request that never comes.
func (c *Conn) Start(method string) error {
	_, err := c.Begin(method)
	return err
}

// Begin is Start, returning the new stream's ID for Send and Await.
func (c *Conn) Begin(method string) (uint32, error) {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", "rawh2"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			return 0, err
		}
	}
	id := c.next
	c.next += 2
	c.replies[id] = &Reply{}
	return id, c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true})
}

// Send sends msg, a serialized protobuf message, as the request of stream
// id, framed as gRPC frames it (a byte saying it is not compressed, then
// its length), and ends the client's side of the stream.
func (c *Conn) Send(id uint32, msg []byte) error {
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	return c.fr.WriteData(id, true, append(frame, msg...))
}

// Reply is what the server sent on one stream.
type Reply struct {
	// Data is the response's bytes: gRPC's 5-byte prefix, then the message.
	Data []byte
	// Status and Message are the grpc-status and grpc-message trailers.
	Status, Message string
	// Reset is set when the server reset the stream (RST_STREAM).
	Reset bool
	done  bool
}

// Await reads until stream id ends, with its trailers or a reset, and
// returns what the server sent on it.
func (c *Conn) Await(id uint32) (Reply, error) {
	r, ok := c.replies[id]
	if !ok {
		return Reply{}, fmt.Errorf("rawh2: no stream %d", id)
	}
	_, err := c.read(func(http2.Frame) bool { return r.done })
	return *r, err
}

// Seen is what the server sent, as Sync and Await read it.
type Seen struct {
	Refused int  // streams the server refused (RST_STREAM REFUSED_STREAM)
	GoAway  bool // the server is closing the connection (GOAWAY)
}

// Sync sends a PING and reads until its answer. A server handles frames in
// order, so when Sync returns, every stream started before it has been
// opened or refused. Sync also reports what else the server sent.
func (c *Conn) Sync() (Seen, error) {
	c.ping++
	data := [8]byte{'r', 'a', 'w', 'h', '2', c.ping}
	if err := c.fr.WritePing(false, data); err != nil {
		return Seen{}, err
	}
	seen, err := c.read(func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == data
	})
	c.pinged = time.Now()
	return seen, err
}

// SyncAfter is Sync paced as a client's keepalive is: its PING leaves gap
// after the answer to the last one, no sooner, since a server's keepalive
// policy judges pings by the time between them, which only passing time
// shows. The wait ends at Open's deadline at the latest, with an error.
func (c *Conn) SyncAfter(gap time.Duration) (Seen, error) {
	at := c.pinged.Add(gap)
	if at.After(c.expires) {
		return Seen{}, fmt.Errorf("rawh2: a PING %v after the last would be past the connection's deadline", gap)
	}
	<-time.After(time.Until(at))
	return c.Sync()
}

// AwaitGoAway reads until the server sends GOAWAY.
func (c *Conn) AwaitGoAway() (Seen, error) {
	return c.read(func(f http2.Frame) bool {
		_, ok := f.(*http2.GoAwayFrame)
		return ok
	})
}

// read reads frames, answering the server's SETTINGS and PINGs, until done
// returns true.
func (c *Conn) read(done func(http2.Frame) bool) (Seen, error) {
	var seen Seen
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return seen, fmt.Errorf("rawh2: %w", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := c.fr.WriteSettingsAck(); err != nil {
					return seen, err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := c.fr.WritePing(true, f.Data); err != nil {
					return seen, err
				}
			}
		case *http2.RSTStreamFrame:
			if f.ErrCode == http2.ErrCodeRefusedStream {
				seen.Refused++
			}
			if r := c.replies[f.StreamID]; r != nil {
				r.Reset, r.done = true, true
			}
		case *http2.DataFrame:
			if r := c.replies[f.StreamID]; r != nil {
				r.Data = append(r.Data, f.Data()...)
			}
		case *http2.MetaHeadersFrame:
			if r := c.replies[f.StreamID]; r != nil {
				if v := f.PseudoValue("status"); v != "" && v != "200" {
					r.Status = "HTTP " + v
				}
				for _, hf := range f.RegularFields() {
					switch hf.Name {
					case "grpc-status":
						r.Status = hf.Value
					case "grpc-message":
						r.Message = hf.Value
					}
				}
				if f.StreamEnded() {
					r.done = true
				}
			}
		case *http2.GoAwayFrame:
			seen.GoAway = true
		}
		if done(f) {
			return seen, nil
		}
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }
