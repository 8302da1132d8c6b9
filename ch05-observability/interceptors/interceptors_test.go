package interceptors_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gobookstore/grpc-microservices-go/ch05-observability/echopb"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/interceptors"
	"github.com/gobookstore/grpc-microservices-go/internal/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// errEcho is what the echo service returns for the input "error".
var errEcho = status.Error(codes.Internal, "you asked for an error")

// echoServer echoes, except for three inputs: "error" returns errEcho,
// "missing" NOT_FOUND, and "panic" panics.
type echoServer struct {
	echopb.UnimplementedEchoServer
}

func (echoServer) Echo(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoReply, error) {
	switch req.GetMessage() {
	case "error":
		return nil, errEcho
	case "missing":
		return nil, status.Error(codes.NotFound, "no such thing")
	case "panic":
		panic("the echo service panics")
	}
	return &echopb.EchoReply{Message: req.GetMessage()}, nil
}

func registerEcho(s grpc.ServiceRegistrar) { echopb.RegisterEchoServer(s, echoServer{}) }

// recorder is a slog.Handler that keeps every record at level and above,
// so a test can look at the values logged, not at their text.
type recorder struct {
	level   slog.Level
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// attrs returns each record's message, level and attributes.
func (r *recorder) attrs() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, rec := range r.records {
		m := map[string]any{"msg": rec.Message, "level": rec.Level}
		rec.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.Any()
			return true
		})
		out = append(out, m)
	}
	return out
}

// unaryErrorLogger is the series' error logger: it calls the handler, logs
// the error if the handler returns one, and passes the result on exactly as
// it was. It shows an interceptor at its smallest.
func unaryErrorLogger(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			log.ErrorContext(ctx, "handler failed", "method", info.FullMethod, "err", err)
		}
		return resp, err
	}
}

// The series' own interceptor test, ported: an echo service over bufconn
// with the error logger. An ordinary input is echoed and nothing is
// logged; the input "error" makes the client see the error, and the logger
// see exactly the error value the handler returned.
func TestErrorLogger(t *testing.T) {
	rec := &recorder{}
	client := echopb.NewEchoClient(grpctest.Start(t, registerEcho,
		grpc.UnaryInterceptor(unaryErrorLogger(slog.New(rec)))))

	reply, err := client.Echo(grpctest.Context(t), &echopb.EchoRequest{Message: "hello"})
	require.NoError(t, err)
	assert.Equal(t, "hello", reply.GetMessage())
	assert.Empty(t, rec.attrs(), "nothing to log")

	_, err = client.Echo(grpctest.Context(t), &echopb.EchoRequest{Message: "error"})
	assert.Equal(t, codes.Internal, status.Code(err))
	assert.Equal(t, "you asked for an error", status.Convert(err).Message())
	logged := rec.attrs()
	require.Len(t, logged, 1)
	assert.Same(t, errEcho, logged[0]["err"], "the very error the handler returned")
	assert.Equal(t, "/echo.Echo/Echo", logged[0]["method"])
}

// At the default level a successful call leaves no line: its count and
// duration are in the metrics. A failure is always logged, as a warning
// when the caller asked for something wrong, as an error when the server
// failed.
func TestSuccessesAreLoggedAtDebugOnly(t *testing.T) {
	rec := &recorder{level: slog.LevelInfo}
	client := echopb.NewEchoClient(grpctest.Start(t, registerEcho,
		grpc.UnaryInterceptor(interceptors.UnaryServerLogging(slog.New(rec)))))
	for _, m := range []string{"hello", "missing", "error"} {
		_, _ = client.Echo(grpctest.Context(t), &echopb.EchoRequest{Message: m})
	}
	logged := rec.attrs()
	require.Len(t, logged, 2, "%v", logged)
	assert.Equal(t, []any{slog.LevelWarn, "NotFound", "no such thing"}, []any{logged[0]["level"], logged[0]["code"], logged[0]["err"]})
	assert.Equal(t, []any{slog.LevelError, "Internal"}, []any{logged[1]["level"], logged[1]["code"]})
}

// gather returns the metric families of reg, by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, f := range families {
		out[f.GetName()] = f
	}
	return out
}

// counts returns a counter family's values by the values of the labels
// named, joined with ",".
func counts(f *dto.MetricFamily, labels ...string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		var values []string
		for _, name := range labels {
			for _, l := range m.GetLabel() {
				if l.GetName() == name {
					values = append(values, l.GetValue())
				}
			}
		}
		out[strings.Join(values, ",")] = m.GetCounter().GetValue()
	}
	return out
}
