// Command recommendations is the Recommendations service of chapter 6:
// chapter 5's instrumented service with errors turned into gRPC status by
// one interceptor, the versioned API recommendations.v1 served beside the
// series' unversioned one, TLS or mutual TLS, and a graceful shutdown.
//
//	go run ./ch06-best-practices/cmd/recommendations   # plaintext gRPC on :50051, metrics on :9090
//	go run ./ch06-best-practices/cmd/gencerts
//	go run ./ch06-best-practices/cmd/recommendations \
//	    -tls-cert certs/recommendations.crt -tls-key certs/recommendations.key -tls-ca certs/ca.crt   # mTLS
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/catalog"
	"github.com/gobookstore/grpc-microservices-go/ch01-microservices/cmdline"
	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/recommendations"
	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/grpcserver"
	"github.com/gobookstore/grpc-microservices-go/ch05-observability/instrument"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/grpcerrors"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/healthport"
	v1 "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/protobufs/recommendations/v1"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/recommend"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/shutdown"
	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/tlsconfig"
)

func main() {
	fs := flag.NewFlagSet("recommendations", flag.ContinueOnError)
	flags := recommendations.NewFlags(fs)
	obs := instrument.NewFlags(fs, ":9090")
	tlsFlags := tlsconfig.NewServerFlags(fs)
	stopFlags := shutdown.NewFlags(fs)
	healthAddr := fs.String("health-addr", "", "plaintext listen address of gRPC health checking alone, for probes that cannot speak TLS (off when empty)")
	cmdline.Main(fs, os.Args[1:], tlsFlags.CheckServer, stopFlags.Check)

	signals, stop := shutdown.OnSignal(context.Background())
	defer stop()
	p, err := instrument.Start(signals, "recommendations", obs)
	if err != nil {
		slog.Error("start", "err", err)
		os.Exit(1)
	}
	tlsFlags.OnReload = func(r tlsconfig.Reload) { logReload(p.Log, r) }
	creds, err := tlsFlags.ServerCredentials()
	if err != nil {
		p.Log.Error("tls", "err", err)
		os.Exit(1)
	}
	lis, err := net.Listen("tcp", flags.Addr)
	if err != nil {
		p.Log.Error("listen", "addr", flags.Addr, "err", err)
		os.Exit(1)
	}
	var healthLis net.Listener
	if *healthAddr != "" {
		if healthLis, err = net.Listen("tcp", *healthAddr); err != nil {
			p.Log.Error("listen", "addr", *healthAddr, "err", err)
			os.Exit(1)
		}
	}

	// One domain service, two APIs on one server. The error interceptor
	// comes after chapter 5's chain, innermost, so the logs and metrics
	// see the status it makes.
	svc := recommend.NewService(catalog.Seeded(flags.Seed))
	opts := append(p.ServerOptions(),
		grpc.ChainUnaryInterceptor(grpcerrors.UnaryServerInterceptor()),
		grpc.Creds(creds))
	s := grpcserver.New(recommend.NewLegacy(svc), grpcserver.DefaultLimits(), opts...)
	s.Register(&v1.RecommendationsService_ServiceDesc, recommend.NewV1(svc))

	p.Log.Info("serving gRPC", "addr", lis.Addr().String(), "transport", tlsFlags.Mode())
	if healthLis != nil {
		p.Log.Info("serving health checks in plaintext", "addr", healthLis.Addr().String())
	}
	p.LogServing()
	g, gctx := errgroup.WithContext(signals)
	// The health port outlives the main server, so that probes read
	// NOT_SERVING while the calls in flight drain.
	drained, endHealth := context.WithCancel(context.WithoutCancel(gctx))
	g.Go(func() error {
		defer endHealth()
		return s.ServeWith(gctx, lis, shutdown.GRPC(signals, s, p.Log, stopFlags.Timeout))
	})
	if healthLis != nil {
		g.Go(func() error { return healthport.Serve(drained, healthLis, s.Health) })
	}
	g.Go(func() error { return p.ServeMetrics(gctx) })
	err = errors.Join(g.Wait(), p.Close()) // the health port ended with the main server
	os.Exit(shutdown.Finish(p.Log, err, stopFlags.Timeout))
}

// logReload logs a renewal of the certificate on disk, or why it did not
// load (the previous certificate stays in use).
func logReload(log *slog.Logger, r tlsconfig.Reload) {
	if r.Err != nil {
		log.Error("certificate files changed but did not load; still serving the previous certificate", "err", r.Err)
		return
	}
	log.Info("certificate renewed", "serial", r.Certificate.SerialNumber.Text(16), "expires", r.Certificate.NotAfter)
}
