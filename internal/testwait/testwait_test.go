package testwait_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestUntilWithinReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	testwait.UntilWithin(t, time.Minute, "the third poll", func() bool {
		calls++
		return calls == 3
	})
	assert.Equal(t, 3, calls)
}

// fatalTB records the failure and ends its goroutine, as testing.T's
// Fatalf does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestUntilWithinFailsAtItsBound(t *testing.T) {
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testwait.UntilWithin(tb, 50*time.Millisecond, "never", func() bool { return false })
	}()
	testwait.Recv(t, done, "UntilWithin to give up")
	assert.Equal(t, "timed out after 50ms waiting until never", tb.msg)
}
