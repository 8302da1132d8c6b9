"""The Recommendations service as the Python series builds it.

The interop tests start this server and call it from the Go Marketplace and
the Go client, to prove that both languages speak one contract. It follows
the series' behaviour on purpose, quirks included: a negative max_results
reaches random.sample, which raises, and the caller sees UNKNOWN.

Usage: recommendations_server.py HOST:PORT [SEED]

Port 0 picks a free one. A SEED makes the picks repeatable, like the Go
server's -seed flag; the series' own server has none.
"""

import random
import sys
from concurrent import futures

import grpc

import recommendations_pb2 as pb
import recommendations_pb2_grpc as pb_grpc

CATALOG = {
    pb.MYSTERY: [
        pb.BookRecommendation(id=1, title="The Maltese Falcon"),
        pb.BookRecommendation(id=2, title="Murder on the Orient Express"),
        pb.BookRecommendation(id=3, title="The Hound of the Baskervilles"),
    ],
    pb.SCIENCE_FICTION: [
        pb.BookRecommendation(id=4, title="The Hitchhiker's Guide to the Galaxy"),
        pb.BookRecommendation(id=5, title="Ender's Game"),
        pb.BookRecommendation(id=6, title="The Dune Chronicles"),
    ],
    pb.SELF_HELP: [
        pb.BookRecommendation(id=7, title="The 7 Habits of Highly Effective People"),
        pb.BookRecommendation(id=8, title="How to Win Friends and Influence People"),
        pb.BookRecommendation(id=9, title="Man's Search for Meaning"),
    ],
}


class Recommendations(pb_grpc.RecommendationsServicer):
    def Recommend(self, request, context):
        books = CATALOG.get(request.category)
        if books is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "Category not found")
        count = min(request.max_results, len(books))
        return pb.RecommendationResponse(recommendations=random.sample(books, count))


def main():
    if len(sys.argv) > 2:
        random.seed(int(sys.argv[2]))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10))
    pb_grpc.add_RecommendationsServicer_to_server(Recommendations(), server)
    host = sys.argv[1].rsplit(":", 1)[0]
    port = server.add_insecure_port(sys.argv[1])
    server.start()
    # The Go tests wait for this line to learn the port.
    print(f"python recommendations: serving gRPC on {host}:{port}", flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=5).wait()
        print("python recommendations: stopped", flush=True)


if __name__ == "__main__":
    main()
