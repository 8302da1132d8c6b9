package serve_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/serve"
	"github.com/gobookstore/grpc-microservices-go/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeServer serves until stopped, like Serve methods do.
type fakeServer struct {
	stopped chan struct{}
	running chan struct{}
}

func newFakeServer() *fakeServer {
	return &fakeServer{stopped: make(chan struct{}), running: make(chan struct{})}
}

func (s *fakeServer) run() error {
	close(s.running)
	<-s.stopped
	return nil
}

func (s *fakeServer) stop() error {
	close(s.stopped)
	return nil
}

func TestUntilStopsWhenTheContextEnds(t *testing.T) {
	s := newFakeServer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve.Until(ctx, s.run, s.stop) }()
	testwait.Recv(t, s.running, "the server to run")
	select {
	case err := <-done:
		t.Fatalf("Until returned %v before the context ended", err)
	default:
	}
	cancel()
	assert.NoError(t, testwait.Recv(t, done, "Until to return"))
}

func TestUntilReturnsWhatStopsTheServer(t *testing.T) {
	broken := errors.New("listener broke")
	stopped := false
	err := serve.Until(context.Background(),
		func() error { return broken },
		func() error { stopped = true; return nil })
	assert.ErrorIs(t, err, broken)
	assert.True(t, stopped, "stop runs even when the server failed on its own")
}

// A server that stops on its own (stopped from elsewhere) ends Until too.
func TestUntilReturnsWhenTheServerStopsOnItsOwn(t *testing.T) {
	stopped := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- serve.Until(context.Background(),
			func() error { return nil },
			func() error { close(stopped); return nil })
	}()
	assert.NoError(t, testwait.Recv(t, done, "Until to return"))
	testwait.Recv(t, stopped, "stop to be called")
}

func TestUntilReturnsAStopError(t *testing.T) {
	s := newFakeServer()
	slow := errors.New("requests cut")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := serve.Until(ctx, s.run, func() error { _ = s.stop(); return slow })
	assert.ErrorIs(t, err, slow)
}

func TestOnlyTimeout(t *testing.T) {
	cut := fmt.Errorf("http: %w", serve.ErrShutdownTimeout)
	failed := errors.New("close failed")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain timeout", serve.ErrShutdownTimeout, true},
		{"wrapped timeout", cut, true},
		{"timeout joined with itself", errors.Join(cut, fmt.Errorf("grpc: %w", serve.ErrShutdownTimeout)), true},
		{"wrapped join of timeouts", fmt.Errorf("run: %w", errors.Join(cut, serve.ErrShutdownTimeout)), true},
		{"timeout joined with a failure", errors.Join(cut, failed), false},
		{"wrapped join with a failure", fmt.Errorf("run: %w", errors.Join(cut, failed)), false},
		{"nested join with a failure", errors.Join(cut, errors.Join(serve.ErrShutdownTimeout, failed)), false},
		{"another error", failed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, serve.OnlyTimeout(tc.err))
		})
	}
}
