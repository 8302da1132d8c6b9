// Package rawh2 speaks just enough HTTP/2 to start gRPC calls that never
// send their request: the stuck and flooding clients that tests of a
// server's limits need, and that a well-behaved gRPC client cannot be.
package rawh2

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Conn is a client's HTTP/2 connection to a gRPC server.
type Conn struct {
	c    net.Conn
	fr   *http2.Framer
	next uint32 // the next stream ID: clients use odd ones
	ping byte
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
	return &Conn{c: c, fr: fr, next: 1}, fr.WriteSettings()
}

// Start sends the headers of a gRPC call to method on a new stream, and
// nothing after them: the server waits for a request that never comes.
func (c *Conn) Start(method string) error {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", "rawh2"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			return err
		}
	}
	id := c.next
	c.next += 2
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true})
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
	return c.read(func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == data
	})
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
