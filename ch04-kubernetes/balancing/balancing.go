// Package balancing connects the Marketplace to every Recommendations
// replica at once, and spreads its calls across them.
//
// One gRPC connection is long-lived HTTP/2: a client that dials a
// Kubernetes ClusterIP Service gets one connection, to one pod picked when
// it connected, and every RPC after that goes to that pod. Extra replicas
// sit idle. The fix is on the client: resolve the service's name to every
// pod's address (a headless Service answers DNS with all of them), keep a
// connection to each, and pick one per call, in turn.
package balancing

import (
	"google.golang.org/grpc"

	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/marketplace"
)

// ServiceConfig selects gRPC's round_robin policy: a connection to every
// address the name resolves to, and each RPC on the next one in turn.
// (The default, pick_first, uses the first address that works.)
const ServiceConfig = `{"loadBalancingConfig": [{"round_robin": {}}]}`

// Target returns the gRPC target for hostport that resolves its name with
// gRPC's dns resolver, which returns every address the name has: all the
// pods of a headless Service, all the replicas of a compose service.
func Target(hostport string) string { return "dns:///" + hostport }

// Connect connects to target (from Target) with round-robin balancing,
// on top of chapter 3's marketplace.Connect. The resolver looks the name up
// again whenever a connection closes, and the server closes each one after
// a while (MaxConnectionAge), so replicas that come and go are followed.
// opts are added last.
func Connect(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return marketplace.Connect(target, append([]grpc.DialOption{grpc.WithDefaultServiceConfig(ServiceConfig)}, opts...)...)
}
