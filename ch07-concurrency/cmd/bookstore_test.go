// Package cmd_test runs chapter 7's bookstore as real processes: chapter
// 6's Recommendations and Marketplace, which chapter 7 carries unchanged
// (internal/layout checks the copy), built from this folder.
package cmd_test

import (
	"net/http"
	"regexp"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	pb "github.com/gobookstore/grpc-microservices-go/ch02-grpc-basics/recommendationspb"
	"github.com/gobookstore/grpc-microservices-go/internal/booksuite"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

const pkg = "github.com/gobookstore/grpc-microservices-go/ch07-concurrency/cmd/"

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

var (
	servingGRPC = regexp.MustCompile(`"msg":"serving gRPC","addr":"([^"]+)"`)
	servingHTTP = regexp.MustCompile(`"msg":"serving HTTP","addr":"([^"]+)"`)
	graceful    = regexp.MustCompile(`"msg":"Shut down gracefully"`)
)

// The bookstore runs from chapter 7's folder as from chapter 6's: the
// homepage has its three books, and SIGTERM stops both processes cleanly.
func TestBookstore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bins := proctest.Build(t, pkg+"recommendations", pkg+"marketplace")
	rec := proctest.Start(t, bins[0], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-drain", "0s"})
	addr := rec.WaitFor(t, servingGRPC)[1]
	mkt := proctest.Start(t, bins[1], []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-recommendations", addr, "-drain", "0s"})
	code, body := proctest.Get(t, "http://"+mkt.WaitFor(t, servingHTTP)[1]+"/")
	assert.Equal(t, http.StatusOK, code)
	assert.ElementsMatch(t, mysteryTitles(), booksuite.Items(body), body)

	for _, p := range []*proctest.Process{mkt, rec} {
		p.Send(t, syscall.SIGTERM)
		p.WaitFor(t, graceful)
		assert.Equal(t, 0, p.Wait(t))
	}
}

// mysteryTitles are the three books the homepage shows.
func mysteryTitles() []string {
	var titles []string
	for _, b := range booksuite.Catalog()[pb.BookCategory_MYSTERY] {
		titles = append(titles, b.GetTitle())
	}
	return titles
}
